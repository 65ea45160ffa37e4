package ftp

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"os"
	"testing"

	"github.com/gonfct/gonfct/pkg/cthelper"
	"github.com/gonfct/gonfct/pkg/ctnl"
	"golang.org/x/sys/unix"
)

// segment is one TCP segment of a capture.
type segment struct {
	src, dst      netip.AddrPort
	seq           uint32
	ts            int64 // microseconds
	syn, fin, rst bool
	payload       []byte
}

// readPcap reads the TCP segments of a classic pcap file of Ethernet
// frames (what tcpdump -w writes), enough for the test captures.
func readPcap(t testing.TB, path string) []segment {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < 24 {
		t.Fatalf("%s: too short for a pcap file", path)
	}
	var bo binary.ByteOrder
	switch binary.LittleEndian.Uint32(b) {
	case 0xa1b2c3d4, 0xa1b23c4d:
		bo = binary.LittleEndian
	case 0xd4c3b2a1, 0x4d3cb2a1:
		bo = binary.BigEndian
	default:
		t.Fatalf("%s: not a pcap file", path)
	}
	if lt := bo.Uint32(b[20:]); lt != 1 {
		t.Fatalf("%s: link type %d, want Ethernet (1)", path, lt)
	}
	var segs []segment
	for off := 24; off+16 <= len(b); {
		n := int(bo.Uint32(b[off+8:]))
		ts := int64(bo.Uint32(b[off:]))*1e6 + int64(bo.Uint32(b[off+4:]))
		frame := b[off+16 : off+16+n]
		off += 16 + n
		if len(frame) < 14 {
			continue
		}
		ethType, ip := binary.BigEndian.Uint16(frame[12:]), frame[14:]
		s := segment{ts: ts}
		var tcp []byte
		switch ethType {
		case 0x0800:
			ihl := int(ip[0]&0xf) * 4
			total := int(binary.BigEndian.Uint16(ip[2:]))
			if ip[9] != unix.IPPROTO_TCP {
				continue
			}
			src, _ := netip.AddrFromSlice(ip[12:16])
			dst, _ := netip.AddrFromSlice(ip[16:20])
			tcp = ip[ihl:total]
			s.src, s.dst = netip.AddrPortFrom(src, 0), netip.AddrPortFrom(dst, 0)
		case 0x86dd:
			if ip[6] != unix.IPPROTO_TCP {
				continue
			}
			src, _ := netip.AddrFromSlice(ip[8:24])
			dst, _ := netip.AddrFromSlice(ip[24:40])
			tcp = ip[40 : 40+int(binary.BigEndian.Uint16(ip[4:]))]
			s.src, s.dst = netip.AddrPortFrom(src, 0), netip.AddrPortFrom(dst, 0)
		default:
			continue
		}
		s.src = netip.AddrPortFrom(s.src.Addr(), binary.BigEndian.Uint16(tcp[0:]))
		s.dst = netip.AddrPortFrom(s.dst.Addr(), binary.BigEndian.Uint16(tcp[2:]))
		s.seq = binary.BigEndian.Uint32(tcp[4:])
		flags := tcp[13]
		s.fin, s.syn, s.rst = flags&1 != 0, flags&2 != 0, flags&4 != 0
		s.payload = tcp[int(tcp[12]>>4)*4:]
		segs = append(segs, s)
	}
	return segs
}

// conn is one control connection being replayed through the parser.
type conn struct {
	orig, reply ctnl.Tuple
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
				orig:  ctnl.Tuple{Src: client.Addr(), Dst: server.Addr(), Proto: unix.IPPROTO_TCP, SrcPort: client.Port(), DstPort: 21},
				reply: ctnl.Tuple{Src: server.Addr(), Dst: client.Addr(), Proto: unix.IPPROTO_TCP, SrcPort: 21, DstPort: client.Port()},
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
