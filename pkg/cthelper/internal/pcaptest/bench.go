package pcaptest

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/gonfct/gonfct/pkg/cthelper"
	"github.com/gonfct/gonfct/pkg/cthelper/engine"
	"github.com/gonfct/gonfct/pkg/cthelper/replay"
)

// Bench measures parser on a capture as the engine calls it: the packets
// are prepared as Replay prepares them (directions, conntrack info, one
// private data buffer per flow), then every iteration zeroes the private
// data and runs every packet with a payload through engine.Decide. One op
// is the whole capture; "ns/packet" is reported too.
func Bench(b *testing.B, parser cthelper.Parser, privLen int, frames []Frame) {
	b.Helper()
	type prepared struct {
		p    cthelper.Packet
		ct   *replay.Conntrack
		view engine.Conntrack
	}
	var pkts []prepared
	walk(frames, privLen, func(p *cthelper.Packet, ct *replay.Conntrack, view *engine.Conntrack) {
		pkts = append(pkts, prepared{*p, ct, *view})
	})
	if len(pkts) == 0 {
		b.Fatal("capture has no packet with a payload")
	}
	s := &engine.Serving{Parser: parser, PrivLen: privLen}
	var pl engine.Plan
	b.ReportAllocs()
	for b.Loop() {
		for i := range pkts {
			clear(pkts[i].ct.Priv())
		}
		for i := range pkts {
			engine.Decide(s, &pkts[i].p, &pkts[i].view, &pl)
			pkts[i].ct.Apply(&pl)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(pkts)), "ns/packet")
}

// BenchCaptures runs Bench on every capture in the package's testdata, a
// sub-benchmark each, with a parser made by newParser without options.
func BenchCaptures(b *testing.B, newParser func(cthelper.Options) (cthelper.Parser, error), privLen int) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.pcap"))
	if err != nil || len(files) == 0 {
		b.Fatalf("no captures in testdata: %v", err)
	}
	for _, f := range files {
		b.Run(strings.TrimSuffix(filepath.Base(f), ".pcap"), func(b *testing.B) {
			p, err := newParser(nil)
			if err != nil {
				b.Fatal(err)
			}
			Bench(b, p, privLen, Read(b, f))
		})
	}
}
