package pcaptest

import (
	"net/netip"
	"testing"

	"github.com/gonfct/gonfct/pkg/cthelper"
	"github.com/gonfct/gonfct/pkg/ctnl"
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
		a, c := netip.AddrPortFrom(f.Src, f.SrcPort), netip.AddrPortFrom(f.Dst, f.DstPort)
		k := flowKey{a, c, f.Proto, f.Family}
		if a.Compare(c) > 0 {
			k.a, k.b = c, a
		}
		fl := flows[k]
		if fl == nil {
			fl = &flow{
				orig:  ctnl.Tuple{Src: f.Src, Dst: f.Dst, Proto: f.Proto, SrcPort: f.SrcPort, DstPort: f.DstPort},
				reply: ctnl.Tuple{Src: f.Dst, Dst: f.Src, Proto: f.Proto, SrcPort: f.DstPort, DstPort: f.SrcPort},
				priv:  make([]byte, privLen),
			}
			flows[k] = fl
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
