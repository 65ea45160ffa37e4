// Package pcaptest reads the small tcpdump captures the protocol parsers'
// tests keep as test data, and replays them through a parser the way the
// engine would: one conntrack per flow, the first packet of a flow setting
// its original direction, private data kept between packets.
package pcaptest

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

// Frame is one captured TCP or UDP packet.
type Frame struct {
	Family           uint8
	Proto            uint8
	Src, Dst         netip.Addr
	SrcPort, DstPort uint16
	Seq              uint32
	SYN, FIN         bool
	Payload          []byte
}

// Read returns the TCP and UDP packets of a classic pcap file (Ethernet,
// Linux cooked v1/v2 or raw IP link types).
func Read(t testing.TB, path string) []Frame {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	frames, err := Parse(b)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return frames
}

// Parse decodes a classic pcap file.
func Parse(b []byte) ([]Frame, error) {
	if len(b) < 24 {
		return nil, fmt.Errorf("short pcap header")
	}
	var order binary.ByteOrder
	switch binary.LittleEndian.Uint32(b) {
	case 0xa1b2c3d4, 0xa1b23c4d:
		order = binary.LittleEndian
	case 0xd4c3b2a1, 0x4d3cb2a1:
		order = binary.BigEndian
	default:
		return nil, fmt.Errorf("not a pcap file")
	}
	link := order.Uint32(b[20:])
	var frames []Frame
	for off := 24; off < len(b); {
		if off+16 > len(b) {
			return nil, fmt.Errorf("truncated record header at %d", off)
		}
		n := int(order.Uint32(b[off+8:]))
		off += 16
		if off+n > len(b) {
			return nil, fmt.Errorf("truncated record at %d", off)
		}
		rec := b[off : off+n]
		off += n
		var ip []byte
		switch link {
		case 1: // Ethernet
			if len(rec) < 14 {
				continue
			}
			ip = rec[14:]
		case 113: // Linux cooked v1
			if len(rec) < 16 {
				continue
			}
			ip = rec[16:]
		case 276: // Linux cooked v2
			if len(rec) < 20 {
				continue
			}
			ip = rec[20:]
		case 101, 12, 228, 229: // raw IP
			ip = rec
		default:
			return nil, fmt.Errorf("link type %d not supported", link)
		}
		if f, ok := decodeIP(ip); ok {
			frames = append(frames, f)
		}
	}
	return frames, nil
}

func decodeIP(b []byte) (Frame, bool) {
	var f Frame
	var l4 []byte
	switch {
	case len(b) >= 20 && b[0]>>4 == 4:
		hl := int(b[0]&0xf) * 4
		total := int(binary.BigEndian.Uint16(b[2:]))
		if hl < 20 || total < hl || total > len(b) {
			return f, false
		}
		f.Family = unix.AF_INET
		f.Proto = b[9]
		f.Src = netip.AddrFrom4([4]byte(b[12:16]))
		f.Dst = netip.AddrFrom4([4]byte(b[16:20]))
		l4 = b[hl:total]
	case len(b) >= 40 && b[0]>>4 == 6:
		plen := int(binary.BigEndian.Uint16(b[4:]))
		if 40+plen > len(b) {
			return f, false
		}
		f.Family = unix.AF_INET6
		f.Proto = b[6]
		f.Src = netip.AddrFrom16([16]byte(b[8:24]))
		f.Dst = netip.AddrFrom16([16]byte(b[24:40]))
		l4 = b[40 : 40+plen]
	default:
		return f, false
	}
	switch f.Proto {
	case unix.IPPROTO_TCP:
		if len(l4) < 20 {
			return f, false
		}
		doff := int(l4[12]>>4) * 4
		if doff < 20 || doff > len(l4) {
			return f, false
		}
		f.Seq = binary.BigEndian.Uint32(l4[4:])
		f.SYN = l4[13]&0x02 != 0
		f.FIN = l4[13]&0x01 != 0
		f.Payload = l4[doff:]
	case unix.IPPROTO_UDP:
		if len(l4) < 8 {
			return f, false
		}
		f.Payload = l4[8:]
	default:
		return f, false
	}
	f.SrcPort = binary.BigEndian.Uint16(l4[0:])
	f.DstPort = binary.BigEndian.Uint16(l4[2:])
	return f, true
}

// Step is one packet with a payload as the parser saw it, and its result.
type Step struct {
	Packet cthelper.Packet
	Result cthelper.Result
	Err    error
}

type flowKey struct {
	a, b   netip.AddrPort
	proto  uint8
	family uint8
}

type flow struct {
	orig, reply ctnl.Tuple
	priv        []byte
	packets     int
}

// Replay runs every packet with a payload through parser, one conntrack per
// flow (the first packet seen, SYN or data, is the original direction),
// keeping each flow's private data (privLen bytes, zeroed at start) between
// packets as the kernel would. Packets without payload are skipped, as the
// engine's rules would not queue them to a helper that ignores them anyway.
func Replay(t testing.TB, parser cthelper.Parser, privLen int, frames []Frame) []Step {
	t.Helper()
	flows := map[flowKey]*flow{}
	var steps []Step
	for _, f := range frames {
		a, b := netip.AddrPortFrom(f.Src, f.SrcPort), netip.AddrPortFrom(f.Dst, f.DstPort)
		k := flowKey{a, b, f.Proto, f.Family}
		if a.Compare(b) > 0 {
			k.a, k.b = b, a
		}
		fl := flows[k]
		if fl == nil {
			fl = &flow{
				orig:  ctnl.Tuple{Src: f.Src, Dst: f.Dst, Proto: f.Proto, SrcPort: f.SrcPort, DstPort: f.DstPort},
				reply: ctnl.Tuple{Src: f.Dst, Dst: f.Src, Proto: f.Proto, SrcPort: f.DstPort, DstPort: f.SrcPort},
				priv:  make([]byte, privLen),
			}
			flows[k] = fl
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
		var st Step
		st.Packet = cthelper.Packet{
			Family: f.Family, Proto: f.Proto, Dir: dir, Info: info,
			Src: f.Src, Dst: f.Dst, SrcPort: f.SrcPort, DstPort: f.DstPort, Seq: f.Seq,
			Orig: fl.orig, Reply: fl.reply,
			Payload: f.Payload, Priv: fl.priv,
		}
		st.Result.Reset()
		st.Err = parser.Parse(&st.Packet, &st.Result)
		st.Packet.Priv = append([]byte(nil), fl.priv...)
		steps = append(steps, st)
	}
	return steps
}

// Expects gathers every expectation the steps asked for, in order.
func Expects(steps []Step) []cthelper.Expect {
	var out []cthelper.Expect
	for _, s := range steps {
		out = append(out, s.Result.Expects[:s.Result.NExpects]...)
	}
	return out
}
