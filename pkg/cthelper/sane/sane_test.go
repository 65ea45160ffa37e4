package sane

import (
	"encoding/binary"
	"path/filepath"
	"testing"

	"github.com/gonfct/gonfct/pkg/cthelper"
	"github.com/gonfct/gonfct/pkg/cthelper/internal/pcaptest"
	"golang.org/x/sys/unix"
)

// testdata/scan.pcap is a real scan from Debian's scanimage through saned
// (testdata/capture.sh): the control connection to 6566 with its
// SANE_NET_START, and the data connection to the port saned announced.

func control(t testing.TB) (ctl, data []pcaptest.Frame) {
	for _, f := range pcaptest.Read(t, filepath.Join("testdata", "scan.pcap")) {
		if f.SrcPort == 6566 || f.DstPort == 6566 {
			ctl = append(ctl, f)
		} else {
			data = append(data, f)
		}
	}
	return ctl, data
}

func TestCapture(t *testing.T) {
	p, err := New(nil)
	if err != nil {
		t.Fatal(err)
	}
	ctl, data := control(t)
	got := pcaptest.Expects(pcaptest.Replay(t, p, PrivLen, ctl))
	if len(got) != 1 {
		t.Fatalf("%d expectations, want 1: %+v", len(got), got)
	}
	syn := data[0] // the client's SYN to the announced port
	want := cthelper.Expect{Proto: unix.IPPROTO_TCP, Src: syn.Src, Dst: syn.Dst, AnySrcPort: true, DstPort: syn.DstPort}
	if !syn.SYN || got[0] != want {
		t.Errorf("got %+v, want %+v (data connection %v:%d > %v:%d)", got[0], want, syn.Src, syn.SrcPort, syn.Dst, syn.DstPort)
	}
}

func TestNegative(t *testing.T) {
	ctl, _ := control(t)
	// Find SANE_NET_START and its answer.
	var start, answer int
	for i, f := range ctl {
		if f.DstPort == 6566 && len(f.Payload) == 8 && binary.BigEndian.Uint32(f.Payload) == netStart {
			start = i
			for answer = i + 1; len(ctl[answer].Payload) == 0; answer++ {
			}
		}
	}
	if start == 0 {
		t.Fatal("no SANE_NET_START in the capture")
	}
	req, rep := ctl[start], ctl[answer]
	mod := func(f pcaptest.Frame, off int, v uint32) pcaptest.Frame {
		f.Payload = append([]byte(nil), f.Payload...)
		binary.BigEndian.PutUint32(f.Payload[off:], v)
		return f
	}
	cut := func(f pcaptest.Frame, n int) pcaptest.Frame { f.Payload = f.Payload[:n]; return f }
	longer := func(f pcaptest.Frame) pcaptest.Frame {
		f.Payload = append(append([]byte(nil), f.Payload...), 0)
		return f
	}
	for name, frames := range map[string][]pcaptest.Frame{
		"answer without request": {rep},
		"other request":          {mod(req, 0, 8), rep},
		"status not good":        {req, mod(rep, 0, 4)},
		"port word too big":      {req, mod(rep, 4, 0x10000|43636)},
		"port 0":                 {req, mod(rep, 4, 0)},
		"short answer":           {req, cut(rep, 7)},
		"longer request":         {longer(req), rep},
		"answer twice":           {req, cut(rep, 4), rep},
		"request then other req": {req, mod(req, 0, 3), rep},
	} {
		if got := pcaptest.Expects(pcaptest.Replay(t, Parser{}, PrivLen, frames)); len(got) != 0 {
			t.Errorf("%s: %+v", name, got)
		}
	}
	var r cthelper.Result
	r.Reset()
	if err := (Parser{}).Parse(&cthelper.Packet{Payload: req.Payload}, &r); err != errPriv {
		t.Errorf("no priv: %v", err)
	}
}

func TestAllocs(t *testing.T) {
	ctl, _ := control(t)
	steps := pcaptest.Replay(t, Parser{}, PrivLen, ctl)
	priv := make([]byte, PrivLen)
	var pk []cthelper.Packet
	for _, s := range steps {
		s.Packet.Priv = priv
		pk = append(pk, s.Packet)
	}
	var r cthelper.Result
	n := testing.AllocsPerRun(20, func() {
		for i := range pk {
			r.Reset()
			_ = Parser{}.Parse(&pk[i], &r)
		}
	})
	if n != 0 {
		t.Errorf("%v allocations per scan", n)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte{0, 0, 0, 7, 0, 0, 0, 0}, []byte{0, 0, 0, 0, 0, 0, 0xaa, 0x74, 0, 0, 0x12, 0x34})
	f.Fuzz(func(t *testing.T, req, rep []byte) {
		pk := cthelper.Packet{Proto: unix.IPPROTO_TCP, Info: cthelper.Established, Payload: req, Priv: make([]byte, PrivLen)}
		var r cthelper.Result
		r.Reset()
		_ = Parser{}.Parse(&pk, &r)
		pk.Dir, pk.Info, pk.Payload = cthelper.Reply, cthelper.EstablishedReply, rep
		r.Reset()
		_ = Parser{}.Parse(&pk, &r)
		if r.NExpects > 1 || r.NExpects == 1 && (r.Expects[0].DstPort == 0 || len(req) != 8) {
			t.Fatalf("%+v", r.Expects[0])
		}
		if pk.Priv[0] > stateStartSent {
			t.Fatalf("state %d", pk.Priv[0])
		}
	})
}
