package pcaptest

import (
	"testing"

	"github.com/gonfct/gonfct/pkg/cthelper"
	"golang.org/x/sys/unix"
)

// Bench measures parser alone on a capture: the packets are prepared as
// Replay prepares them (directions, conntrack info, one private data
// buffer per flow), then every iteration zeroes the private data and runs
// every packet with a payload through Parse. One op is the whole capture;
// "ns/packet" is reported too.
func Bench(b *testing.B, parser cthelper.Parser, privLen int, frames []Frame) {
	b.Helper()
	flows := map[flowKey]*flow{}
	var privs [][]byte
	var pkts []cthelper.Packet
	for _, f := range frames {
		fl, isNew := flowOf(flows, &f, privLen)
		if isNew {
			privs = append(privs, fl.priv)
		}
		fl.packets++
		if len(f.Payload) == 0 {
			continue
		}
		dir := cthelper.Original
		if f.Src == fl.orig.Dst && f.SrcPort == fl.orig.DstPort && !(f.Src == fl.orig.Src && f.SrcPort == fl.orig.SrcPort) {
			dir = cthelper.Reply
		}
		info := cthelper.Established
		switch {
		case dir == cthelper.Reply:
			info = cthelper.EstablishedReply
		case fl.packets == 1 && f.Proto == unix.IPPROTO_UDP:
			info = cthelper.New
		}
		pkts = append(pkts, cthelper.Packet{
			Family: f.Family, Proto: f.Proto, Dir: dir, Info: info,
			Src: f.Src, Dst: f.Dst, SrcPort: f.SrcPort, DstPort: f.DstPort, Seq: f.Seq,
			Orig: fl.orig, Reply: fl.reply, Payload: f.Payload, Priv: fl.priv,
		})
	}
	if len(pkts) == 0 {
		b.Fatal("capture has no packet with a payload")
	}
	var res cthelper.Result
	b.ReportAllocs()
	for b.Loop() {
		for _, p := range privs {
			clear(p)
		}
		for i := range pkts {
			res.Reset()
			_ = parser.Parse(&pkts[i], &res)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(pkts)), "ns/packet")
}
