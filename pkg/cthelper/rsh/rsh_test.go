package rsh

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/gonfct/gonfct/pkg/cthelper"
	"github.com/gonfct/gonfct/pkg/cthelper/internal/pcaptest"
	"golang.org/x/sys/unix"
)

// testdata holds Debian's rsh client (rsh-redone) running a command on
// testdata/rshd.py, a minimal server speaking the rsh protocol
// (testdata/capture.sh): the control connection to 514 and the stderr
// connection from the server to the client's announced port.

func TestCaptures(t *testing.T) {
	p, err := New(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, file := range []string{"rsh4", "rsh6"} {
		var ctl, stderr []pcaptest.Frame
		for _, f := range pcaptest.Read(t, filepath.Join("testdata", file+".pcap")) {
			if f.SrcPort == 514 || f.DstPort == 514 {
				ctl = append(ctl, f)
			} else {
				stderr = append(stderr, f)
			}
		}
		steps := pcaptest.Replay(t, p, PrivLen, ctl)
		got := pcaptest.Expects(steps)
		syn := stderr[0]
		want := cthelper.Expect{Proto: unix.IPPROTO_TCP, Src: syn.Src, Dst: syn.Dst, AnySrcPort: true, DstPort: syn.DstPort}
		if len(got) != 1 || got[0] != want || !syn.SYN {
			t.Errorf("%s: %+v, want %+v", file, got, want)
		}
		for _, s := range steps {
			if s.Err != nil {
				t.Errorf("%s: %v", file, s.Err)
			}
		}
	}
}

func packet(payload string) *cthelper.Packet {
	var p cthelper.Packet
	p.Proto, p.Info, p.Payload = unix.IPPROTO_TCP, cthelper.Established, []byte(payload)
	return &p
}

func TestOptionsAndEdges(t *testing.T) {
	p, err := NewNamed("rsh", cthelper.Options{"range": "600-700", "ports": "4000,5000"}, DefaultLow, DefaultHigh)
	if err != nil {
		t.Fatal(err)
	}
	for in, want := range map[string]int{
		"650\x00u\x00u\x00ls\x00": 1, "600\x00": 1, "700\x00": 1, "4000\x00": 1, "5000\x00x": 1,
		"599\x00": -1, "1023\x00": -1, "0\x00": 0, "650": 0, "650 \x00": 0, "x650\x00": 0, "\x00": 0,
		"065535\x00": 0, "65536\x00": 0, "99999999999\x00": 0, "": 0,
	} {
		var r cthelper.Result
		r.Reset()
		err := p.Parse(packet(in), &r)
		switch {
		case want == -1 && err != ErrPortRefused, want >= 0 && err != nil, want >= 0 && r.NExpects != want, want == -1 && r.NExpects != 0:
			t.Errorf("%q: %v, %d expectations", in, err, r.NExpects)
		}
	}
	// The server's own data, and a client segment on a NEW packet, are not it.
	for _, pk := range []*cthelper.Packet{
		func() *cthelper.Packet {
			p := packet("650\x00")
			p.Dir, p.Info = cthelper.Reply, cthelper.EstablishedReply
			return p
		}(),
		func() *cthelper.Packet { p := packet("650\x00"); p.Info = cthelper.New; return p }(),
	} {
		var r cthelper.Result
		r.Reset()
		if _ = p.Parse(pk, &r); r.NExpects != 0 {
			t.Errorf("%+v: expectation", pk)
		}
	}
	for opts, msg := range map[string]cthelper.Options{
		"unknown option": {"loose": "yes"}, "give a port range": {"range": "1-x"}, "not a port number": {"ports": "0"},
	} {
		if _, err := New(msg); err == nil || !strings.Contains(err.Error(), opts) {
			t.Errorf("%v: %v", msg, err)
		}
	}
}

func TestAllocs(t *testing.T) {
	p, _ := New(nil)
	pk := packet("1022\x00root\x00gonfct\x00echo hello\x00")
	var r cthelper.Result
	if n := testing.AllocsPerRun(200, func() { r.Reset(); _ = p.Parse(pk, &r) }); n != 0 || r.NExpects != 1 {
		t.Errorf("%v allocations, %d expectations", n, r.NExpects)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("1022\x00root\x00gonfct\x00echo hello\x00"))
	f.Add([]byte("0\x00"))
	p, _ := New(nil)
	f.Fuzz(func(t *testing.T, b []byte) {
		var r cthelper.Result
		r.Reset()
		pk := packet("")
		pk.Payload = b
		_ = p.Parse(pk, &r)
		if r.NExpects == 1 && (r.Expects[0].DstPort < DefaultLow || r.Expects[0].DstPort > DefaultHigh) {
			t.Fatalf("%+v", r.Expects[0])
		}
	})
}
