package mdns

import (
	"net/netip"
	"path/filepath"
	"testing"

	"github.com/gonfct/gonfct/pkg/cthelper"
	"github.com/gonfct/gonfct/pkg/cthelper/internal/pcaptest"
	"golang.org/x/sys/unix"
)

// testdata/query4.pcap is a real one-shot mDNS query from Debian's dig to
// 224.0.0.251:5353; answer4.pcap and answer6.pcap are real one-shot queries
// from Debian's drill to 224.0.0.251 and ff02::fb, each with the unicast
// answer Debian's avahi-daemon sent back (testdata/capture.sh).

func query(t testing.TB) pcaptest.Frame {
	return pcaptest.Read(t, filepath.Join("testdata", "query4.pcap"))[0]
}

func TestCapture(t *testing.T) {
	q := query(t)
	got := pcaptest.Expects(pcaptest.Replay(t, Parser{}, PrivLen, []pcaptest.Frame{q}))
	want := cthelper.Expect{Proto: unix.IPPROTO_UDP, SrcPort: 5353, Dst: q.Src, DstPort: q.SrcPort, Flags: cthelper.ExpectPermanent}
	if len(got) != 1 || got[0] != want {
		t.Errorf("%+v, want %+v", got, want)
	}
	// The same query over IPv6 (dig cannot send to ff02::fb; the bytes are
	// the captured query's).
	q6 := q
	q6.Family, q6.Src, q6.Dst = unix.AF_INET6, netip.MustParseAddr("fe80::1"), netip.MustParseAddr("ff02::fb")
	got = pcaptest.Expects(pcaptest.Replay(t, Parser{}, PrivLen, []pcaptest.Frame{q6}))
	want.Dst = q6.Src
	if len(got) != 1 || got[0] != want {
		t.Errorf("IPv6: %+v, want %+v", got, want)
	}
}

// The real responder's answer is what the query's expectation lets in:
// from the responder's own address (not the group) and port 5353 to the
// querier's address and port, a new flow the parser itself leaves alone.
func TestAvahiAnswer(t *testing.T) {
	for _, name := range []string{"answer4", "answer6"} {
		frames := pcaptest.Read(t, filepath.Join("testdata", name+".pcap"))
		if len(frames) != 2 {
			t.Fatalf("%s: %d packets, want the query and the answer", name, len(frames))
		}
		q, a := frames[0], frames[1]
		if !q.Dst.IsMulticast() || a.Src.IsMulticast() || a.Payload[2]&0x80 == 0 || a.Payload[0] != q.Payload[0] || a.Payload[1] != q.Payload[1] {
			t.Fatalf("%s: not a query to the group and its unicast answer: %+v %+v", name, q, a)
		}
		steps := pcaptest.Replay(t, Parser{}, PrivLen, frames)
		got := pcaptest.Expects(steps)
		if len(got) != 1 || steps[1].Result.NExpects != 0 || steps[0].Err != nil || steps[1].Err != nil {
			t.Fatalf("%s: expectations %+v, errors %v %v; want one, from the query", name, got, steps[0].Err, steps[1].Err)
		}
		e := got[0]
		want := cthelper.Expect{Proto: unix.IPPROTO_UDP, SrcPort: 5353, Dst: q.Src, DstPort: q.SrcPort, Flags: cthelper.ExpectPermanent}
		if e != want {
			t.Errorf("%s: %+v, want %+v", name, e, want)
		}
		// The kernel's match: any source address, the expected ports and
		// destination address.
		if a.Proto != e.Proto || a.SrcPort != e.SrcPort || a.Dst != e.Dst || a.DstPort != e.DstPort || e.Src.IsValid() {
			t.Errorf("%s: avahi's answer %v:%d -> %v:%d does not match %+v", name, a.Src, a.SrcPort, a.Dst, a.DstPort, e)
		}
	}
}

func TestNegative(t *testing.T) {
	q := query(t)
	resp := q
	resp.Payload = append([]byte(nil), q.Payload...)
	resp.Payload[2] |= 0x80
	unicast := q
	unicast.Dst = netip.MustParseAddr("192.0.2.7")
	short := q
	short.Payload = q.Payload[:11]
	for name, f := range map[string]pcaptest.Frame{"response": resp, "unicast": unicast, "short": short} {
		steps := pcaptest.Replay(t, Parser{}, PrivLen, []pcaptest.Frame{f})
		if got := pcaptest.Expects(steps); len(got) != 0 {
			t.Errorf("%s: %+v", name, got)
		}
	}
	if _, err := New(cthelper.Options{"x": "1"}); err == nil {
		t.Error("option accepted")
	}
}

func TestSNAT(t *testing.T) {
	q := query(t)
	p := &cthelper.Packet{Family: unix.AF_INET, Proto: unix.IPPROTO_UDP, Info: cthelper.New, Payload: q.Payload}
	p.Orig.Src, p.Orig.Dst, p.Orig.SrcPort, p.Orig.DstPort = q.Src, q.Dst, q.SrcPort, 5353
	p.Reply.Src, p.Reply.Dst, p.Reply.SrcPort, p.Reply.DstPort = q.Dst, netip.MustParseAddr("203.0.113.1"), 5353, 61000
	var r cthelper.Result
	r.Reset()
	_ = Parser{}.Parse(p, &r)
	e := r.Expects[0]
	if r.NExpects != 1 || e.Dst != p.Reply.Dst || e.DstPort != 61000 || !e.NAT || e.NATDir != cthelper.Reply || e.NATAddr != q.Src || e.NATPort != q.SrcPort {
		t.Errorf("%+v", r.Expects[:r.NExpects])
	}
	if n := testing.AllocsPerRun(100, func() { r.Reset(); _ = Parser{}.Parse(p, &r) }); n != 0 {
		t.Errorf("%v allocations", n)
	}
}

func FuzzParse(f *testing.F) {
	f.Add(query(f).Payload)
	f.Fuzz(func(t *testing.T, b []byte) {
		p := &cthelper.Packet{Family: unix.AF_INET, Proto: unix.IPPROTO_UDP, Info: cthelper.New, Payload: b}
		p.Orig.Dst, p.Orig.DstPort = netip.MustParseAddr("224.0.0.251"), 5353
		var r cthelper.Result
		r.Reset()
		_ = Parser{}.Parse(p, &r)
		if r.NExpects > 1 || r.NExpects == 1 && (len(b) < 12 || b[2]&0x80 != 0) {
			t.Fatalf("%+v", r.Expects[0])
		}
	})
}
