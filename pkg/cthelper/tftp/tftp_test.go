package tftp

import (
	"net/netip"
	"path/filepath"
	"testing"

	"github.com/gonfct/gonfct/pkg/cthelper"
	"github.com/gonfct/gonfct/pkg/cthelper/internal/pcaptest"
	"golang.org/x/sys/unix"
)

// testdata holds real transfers between Debian's tftp-hpa client and
// tftpd-hpa (testdata/capture.sh): the request and the first packets of
// the transfer from the server's new port.

func TestCaptures(t *testing.T) {
	p, err := New(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, file := range []string{"rrq4", "wrq4", "rrq6"} {
		frames := pcaptest.Read(t, filepath.Join("testdata", file+".pcap"))
		steps := pcaptest.Replay(t, p, PrivLen, frames)
		got := pcaptest.Expects(steps)
		if len(got) != 1 {
			t.Fatalf("%s: %d expectations, want 1", file, len(got))
		}
		req, answer := frames[0], frames[1]
		want := cthelper.Expect{Proto: unix.IPPROTO_UDP, Src: req.Dst, Dst: req.Src, AnySrcPort: true, DstPort: req.SrcPort}
		if got[0] != want {
			t.Errorf("%s: %+v, want %+v", file, got[0], want)
		}
		// The server's answer comes from a new port to the client's: the
		// expectation matches it.
		if answer.Src != want.Src || answer.Dst != want.Dst || answer.DstPort != want.DstPort || answer.SrcPort == 69 {
			t.Errorf("%s: answer %v:%d > %v:%d does not match %+v", file, answer.Src, answer.SrcPort, answer.Dst, answer.DstPort, want)
		}
		for _, s := range steps {
			if s.Err != nil {
				t.Errorf("%s: %v", file, s.Err)
			}
		}
	}
}

func packet(payload []byte) *cthelper.Packet {
	c, s := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	p := &cthelper.Packet{Family: unix.AF_INET, Proto: unix.IPPROTO_UDP, Info: cthelper.New, Payload: payload,
		Src: c, Dst: s, SrcPort: 40000, DstPort: 69}
	p.Orig.Src, p.Orig.Dst, p.Orig.SrcPort, p.Orig.DstPort = c, s, 40000, 69
	p.Reply.Src, p.Reply.Dst, p.Reply.SrcPort, p.Reply.DstPort = s, c, 69, 40000
	return p
}

func TestNegative(t *testing.T) {
	rrq := pcaptest.Read(t, filepath.Join("testdata", "rrq4.pcap"))[0].Payload
	for i := 0; i < len(rrq); i++ {
		var r cthelper.Result
		r.Reset()
		_ = Parser{}.Parse(packet(rrq[:i]), &r)
		if r.NExpects != 0 {
			t.Errorf("request cut at %d: expectation", i)
		}
	}
	for name, b := range map[string][]byte{
		"DATA": {0, 3, 0, 1, 'x'}, "ACK": {0, 4, 0, 1}, "ERROR": {0, 5, 0, 1, 'n', 0}, "opcode 0x0101": {1, 1, 'a', 0, 'b', 0},
		"empty name": {0, 1, 0, 'o', 'c', 't', 'e', 't', 0},
	} {
		var r cthelper.Result
		r.Reset()
		_ = Parser{}.Parse(packet(b), &r)
		if r.NExpects != 0 {
			t.Errorf("%s: expectation", name)
		}
	}
	// A request in the reply direction is not the client's.
	p := packet(rrq)
	p.Dir, p.Info = cthelper.Reply, cthelper.EstablishedReply
	var r cthelper.Result
	r.Reset()
	if _ = (Parser{}).Parse(p, &r); r.NExpects != 0 {
		t.Error("reply-direction request expected")
	}
	if _, err := New(cthelper.Options{"ports": "69"}); err == nil {
		t.Error("New accepted an option")
	}
}

func TestNAT(t *testing.T) {
	rrq := pcaptest.Read(t, filepath.Join("testdata", "rrq4.pcap"))[0].Payload
	p := packet(rrq)
	// SNAT: the server sees the client as 198.51.100.1:1024.
	p.Reply.Dst, p.Reply.DstPort = netip.MustParseAddr("198.51.100.1"), 1024
	var r cthelper.Result
	r.Reset()
	if err := (Parser{}).Parse(p, &r); err != nil || r.NExpects != 1 {
		t.Fatalf("%v %d", err, r.NExpects)
	}
	e := r.Expects[0]
	if e.Dst != p.Reply.Dst || e.DstPort != 1024 || !e.NAT || e.NATDir != cthelper.Reply || e.NATAddr != p.Orig.Src || e.NATPort != 40000 {
		t.Errorf("%+v", e)
	}
}

func TestAllocs(t *testing.T) {
	p := packet(pcaptest.Read(t, filepath.Join("testdata", "rrq4.pcap"))[0].Payload)
	var r cthelper.Result
	if n := testing.AllocsPerRun(200, func() { r.Reset(); _ = Parser{}.Parse(p, &r) }); n != 0 {
		t.Errorf("%v allocations", n)
	}
}

func FuzzParse(f *testing.F) {
	for _, file := range []string{"rrq4", "wrq4"} {
		f.Add(pcaptest.Read(f, filepath.Join("testdata", file+".pcap"))[0].Payload)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var r cthelper.Result
		r.Reset()
		p := packet(b)
		_ = Parser{}.Parse(p, &r)
		if r.NExpects > 1 || r.NExpects == 1 && (r.Expects[0].DstPort != 40000 || r.Expects[0].Dst != p.Orig.Src) {
			t.Fatalf("%+v", r.Expects[0])
		}
	})
}
