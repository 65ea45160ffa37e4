// Package pcaptest reads the small tcpdump captures the protocol parsers'
// tests keep as test data, and replays them through a parser the way the
// engine would: one conntrack per flow, the first packet of a flow setting
// its original direction, private data kept between packets.
package pcaptest

import (
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/gonfct/gonfct/pkg/cthelper"
	"github.com/gonfct/gonfct/pkg/cthelper/engine"
	"github.com/gonfct/gonfct/pkg/cthelper/replay"
	"github.com/gonfct/gonfct/pkg/ctnetlink"
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
	Time             time.Time // when it was captured
}

// Read returns the TCP and UDP packets of a pcap or pcapng file (any link
// type replay.Parse reads).
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

// Parse reads a capture with replay.Parse and decodes its IP packets with
// the engine's own decoder, keeping the whole TCP and UDP packets: those
// the capture cut short, fragments, other protocols and packets that do
// not decode are left out.
func Parse(b []byte) ([]Frame, error) {
	captured, err := replay.Parse(b)
	if err != nil {
		return nil, err
	}
	var frames []Frame
	for _, c := range captured {
		if c.IP == nil || c.Truncated {
			continue
		}
		var p cthelper.Packet
		off, err := engine.DecodePacket(c.IP, &p)
		if err != nil {
			continue
		}
		f := Frame{
			Family: p.Family, Proto: p.Proto, Src: p.Src, Dst: p.Dst,
			SrcPort: p.SrcPort, DstPort: p.DstPort, Seq: p.Seq, Payload: p.Payload,
			Time: c.Time,
		}
		if p.Proto == unix.IPPROTO_TCP {
			flags := c.IP[off.L4+13]
			f.SYN, f.FIN = flags&0x02 != 0, flags&0x01 != 0
		}
		frames = append(frames, f)
	}
	return frames, nil
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
	orig, reply ctnetlink.Tuple
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
	pkts, flows := packets(frames, privLen)
	steps := make([]Step, 0, len(pkts))
	for i := range pkts {
		var st Step
		st.Packet = pkts[i]
		st.Result.Reset()
		st.Err = parser.Parse(&st.Packet, &st.Result)
		st.Packet.Priv = append([]byte(nil), flows[i].priv...)
		steps = append(steps, st)
	}
	return steps
}

// packets prepares the frames with a payload as the engine would hand
// them to a parser, each with its flow (whose private data the packets
// share).
func packets(frames []Frame, privLen int) ([]cthelper.Packet, []*flow) {
	flows := map[flowKey]*flow{}
	var pkts []cthelper.Packet
	var of []*flow
	for _, f := range frames {
		fl := flowOf(flows, &f, privLen)
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
		of = append(of, fl)
	}
	return pkts, of
}

// Expects gathers every expectation the steps asked for, in order.
func Expects(steps []Step) []cthelper.Expect {
	var out []cthelper.Expect
	for _, s := range steps {
		out = append(out, s.Result.Expects[:s.Result.NExpects]...)
	}
	return out
}

// flowOf finds the frame's flow, or starts one with the frame's direction
// as the original.
func flowOf(flows map[flowKey]*flow, f *Frame, privLen int) *flow {
	a, b := netip.AddrPortFrom(f.Src, f.SrcPort), netip.AddrPortFrom(f.Dst, f.DstPort)
	k := flowKey{a, b, f.Proto, f.Family}
	if a.Compare(b) > 0 {
		k.a, k.b = b, a
	}
	if fl := flows[k]; fl != nil {
		return fl
	}
	fl := &flow{
		orig:  ctnetlink.Tuple{Src: f.Src, Dst: f.Dst, Proto: f.Proto, SrcPort: f.SrcPort, DstPort: f.DstPort},
		reply: ctnetlink.Tuple{Src: f.Dst, Dst: f.Src, Proto: f.Proto, SrcPort: f.DstPort, DstPort: f.SrcPort},
		priv:  make([]byte, privLen),
	}
	flows[k] = fl
	return fl
}

// Apply returns payload with r's rewrites done as the engine does them:
// each rewrite's offset and length refer to the original payload, and
// they come in payload order without overlapping.
func Apply(t testing.TB, payload []byte, r *cthelper.Result) []byte {
	t.Helper()
	var out []byte
	pos := 0
	for _, w := range r.Rewrites[:r.NRewrites] {
		if w.Off < pos || w.Off+w.Len > len(payload) {
			t.Fatalf("rewrite at %d+%d out of order or past the payload (%d bytes)", w.Off, w.Len, len(payload))
		}
		out = append(append(out, payload[pos:w.Off]...), w.Data...)
		pos = w.Off + w.Len
	}
	return append(out, payload[pos:]...)
}
