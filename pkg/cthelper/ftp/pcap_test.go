package ftp

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/gonfct/gonfct/pkg/cthelper"
	"github.com/gonfct/gonfct/pkg/cthelper/internal/pcaptest"
	"github.com/gonfct/gonfct/pkg/ctnetlink"
	"golang.org/x/sys/unix"
)

// segment is one TCP segment of a capture.
type segment struct {
	src, dst netip.AddrPort
	seq      uint32
	ts       time.Time
	syn, fin bool
	payload  []byte
}

// readPcap reads the TCP segments of a capture.
func readPcap(t testing.TB, path string) []segment {
	t.Helper()
	var segs []segment
	for _, f := range pcaptest.Read(t, path) {
		if f.Proto != unix.IPPROTO_TCP {
			continue
		}
		segs = append(segs, segment{
			src: netip.AddrPortFrom(f.Src, f.SrcPort), dst: netip.AddrPortFrom(f.Dst, f.DstPort),
			seq: f.Seq, ts: f.Time, syn: f.SYN, fin: f.FIN, payload: f.Payload,
		})
	}
	return segs
}

// conn is one control connection being replayed through the parser.
type conn struct {
	orig, reply ctnetlink.Tuple
	priv        [PrivLen]byte
}

// replay feeds every payload segment of the capture to the parser, with
// the conntrack a kernel would have (nat maps the client's address to a
// translated one, as SNAT would), and returns what each segment gave.
type replayed struct {
	seg    segment
	result cthelper.Result
	err    error
}

func replay(t testing.TB, parser cthelper.Parser, segs []segment, snat map[netip.Addr]netip.Addr) []replayed {
	conns := map[netip.AddrPort]*conn{}
	var out []replayed
	for _, s := range segs {
		client, server := s.src, s.dst
		dir := cthelper.Original
		if s.src.Port() == 21 {
			client, server, dir = s.dst, s.src, cthelper.Reply
		}
		c := conns[client]
		if c == nil || (s.syn && dir == cthelper.Original) {
			c = &conn{
				orig:  ctnetlink.Tuple{Src: client.Addr(), Dst: server.Addr(), Proto: unix.IPPROTO_TCP, SrcPort: client.Port(), DstPort: 21},
				reply: ctnetlink.Tuple{Src: server.Addr(), Dst: client.Addr(), Proto: unix.IPPROTO_TCP, SrcPort: 21, DstPort: client.Port()},
			}
			if to, ok := snat[client.Addr()]; ok {
				c.reply.Dst = to
			}
			conns[client] = c
		}
		if len(s.payload) == 0 {
			continue
		}
		fam := uint8(unix.AF_INET)
		if client.Addr().Is6() {
			fam = unix.AF_INET6
		}
		info := cthelper.Established
		if dir == cthelper.Reply {
			info = cthelper.EstablishedReply
		}
		p := &cthelper.Packet{
			Family: fam, Proto: unix.IPPROTO_TCP, Dir: dir, Info: info,
			Src: s.src.Addr(), Dst: s.dst.Addr(), SrcPort: s.src.Port(), DstPort: s.dst.Port(),
			Seq: s.seq, Orig: c.orig, Reply: c.reply, Payload: s.payload, Priv: c.priv[:],
		}
		rp := replayed{seg: s}
		rp.result.Reset()
		rp.err = parser.Parse(p, &rp.result)
		out = append(out, rp)
	}
	return out
}

func (r *replayed) String() string {
	return fmt.Sprintf("%s->%s seq %d %q", r.seg.src, r.seg.dst, r.seg.seq, r.seg.payload)
}
