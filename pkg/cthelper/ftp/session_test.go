package ftp

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/gonfct/gonfct/pkg/cthelper"
	"golang.org/x/sys/unix"
)

// The capture (testdata/capture.sh) holds six real sessions of curl
// against pyftpdlib between 10.55.0.2/fd55::2 (client) and
// 10.55.0.1/fd55::1 (server): EPSV, PASV, EPRT |1|, PORT, EPSV over IPv6
// and EPRT |2|. Replayed segment by segment, with the line tracking in the
// private data, each gives exactly the data connection it announced.
func TestCapturedSessions(t *testing.T) {
	segs := readPcap(t, "testdata/ftp-sessions.pcap")
	parser, err := New(nil)
	if err != nil {
		t.Fatal(err)
	}
	a := netip.MustParseAddr
	tcp := uint8(unix.IPPROTO_TCP)
	want := []struct {
		line string
		exp  cthelper.Expect
	}{
		{"229 Entering extended passive mode (|||52221|).", cthelper.Expect{Proto: tcp, Src: a("10.55.0.2"), AnySrcPort: true, Dst: a("10.55.0.1"), DstPort: 52221}},
		{"227 Entering passive mode (10,55,0,1,147,215).", cthelper.Expect{Proto: tcp, Src: a("10.55.0.2"), AnySrcPort: true, Dst: a("10.55.0.1"), DstPort: 147*256 + 215}},
		{"EPRT |1|10.55.0.2|42345|", cthelper.Expect{Proto: tcp, Src: a("10.55.0.1"), AnySrcPort: true, Dst: a("10.55.0.2"), DstPort: 42345}},
		{"PORT 10,55,0,2,141,21", cthelper.Expect{Proto: tcp, Src: a("10.55.0.1"), AnySrcPort: true, Dst: a("10.55.0.2"), DstPort: 141*256 + 21}},
		{"229 Entering extended passive mode (|||52687|).", cthelper.Expect{Proto: tcp, Src: a("fd55::2"), AnySrcPort: true, Dst: a("fd55::1"), DstPort: 52687}},
		{"EPRT |2|fd55::2|34987|", cthelper.Expect{Proto: tcp, Src: a("fd55::1"), AnySrcPort: true, Dst: a("fd55::2"), DstPort: 34987}},
	}
	var got []replayed
	parsed := 0
	for _, r := range replay(t, parser, segs, nil) {
		if r.err != nil || r.result.Verdict != cthelper.Accept || r.result.NRewrites != 0 {
			t.Errorf("%v: err %v verdict %d rewrites %d", &r, r.err, r.result.Verdict, r.result.NRewrites)
		}
		if r.result.PrivChanged {
			parsed++
		}
		if r.result.NExpects > 0 {
			got = append(got, r)
		}
	}
	if len(got) != len(want) {
		for _, g := range got {
			t.Logf("expectation from %v", &g)
		}
		t.Fatalf("%d segments gave expectations, want %d", len(got), len(want))
	}
	for i, w := range want {
		g := got[i]
		if line := strings.TrimRight(string(g.seg.payload), "\r\n"); line != w.line {
			t.Errorf("expectation %d from %q, want from %q", i, line, w.line)
		}
		if g.result.NExpects != 1 || g.result.Expects[0] != w.exp {
			t.Errorf("%q: %d expectations, first %+v\nwant %+v", w.line, g.result.NExpects, g.result.Expects[0], w.exp)
		}
	}
	// Every segment but the first in each direction of each session
	// (banner and USER: no line start known yet) moved the line tracking.
	if parsed < 6*4 {
		t.Errorf("line tracking moved on only %d segments", parsed)
	}
}

// The same sessions with the client behind SNAT (10.55.0.2 seen as
// 192.0.2.7, fd55::2 as 2001:db8::7): the active-mode announcements are
// rewritten to the translated address, and every expectation asks the
// kernel to follow the master's NAT back to what was announced.
func TestCapturedSessionsSNAT(t *testing.T) {
	segs := readPcap(t, "testdata/ftp-sessions.pcap")
	parser, _ := New(nil)
	a := netip.MustParseAddr
	snat := map[netip.Addr]netip.Addr{a("10.55.0.2"): a("192.0.2.7"), a("fd55::2"): a("2001:db8::7")}
	type want struct {
		rewritten string // the line after the rewrite
		dst       netip.Addr
		natDir    cthelper.Direction
		natAddr   netip.Addr
	}
	wants := []want{
		{"229 Entering extended passive mode (|||52221|).", a("10.55.0.1"), cthelper.Original, a("10.55.0.1")},
		{"227 Entering passive mode (10,55,0,1,147,215).", a("10.55.0.1"), cthelper.Original, a("10.55.0.1")},
		{"EPRT |1|192.0.2.7|42345|", a("192.0.2.7"), cthelper.Reply, a("10.55.0.2")},
		{"PORT 192,0,2,7,141,21", a("192.0.2.7"), cthelper.Reply, a("10.55.0.2")},
		{"229 Entering extended passive mode (|||52687|).", a("fd55::1"), cthelper.Original, a("fd55::1")},
		{"EPRT |2|2001:db8::7|34987|", a("2001:db8::7"), cthelper.Reply, a("fd55::2")},
	}
	i := 0
	for _, r := range replay(t, parser, segs, snat) {
		if r.err != nil {
			t.Errorf("%v: %v", &r, r.err)
		}
		if r.result.NExpects == 0 {
			continue
		}
		if i == len(wants) {
			t.Fatalf("extra expectation from %v", &r)
		}
		w := wants[i]
		i++
		e := r.result.Expects[0]
		if r.result.NRewrites != 1 {
			t.Fatalf("%v: %d rewrites", &r, r.result.NRewrites)
		}
		rw := r.result.Rewrites[0]
		out := string(r.seg.payload[:rw.Off]) + string(rw.Data) + string(r.seg.payload[rw.Off+rw.Len:])
		if got := strings.TrimRight(out, "\r\n"); got != w.rewritten {
			t.Errorf("rewritten to %q, want %q", got, w.rewritten)
		}
		if !e.NAT || e.Dst != w.dst || e.NATDir != w.natDir || e.NATAddr != w.natAddr || e.NATPort != e.DstPort {
			t.Errorf("%q: expectation %+v", w.rewritten, e)
		}
	}
	if i != len(wants) {
		t.Errorf("%d expectations, want %d", i, len(wants))
	}
}
