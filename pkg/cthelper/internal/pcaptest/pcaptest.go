// Package pcaptest reads the small tcpdump captures the protocol parsers'
// tests keep as test data, and replays them through a parser the way the
// engine would: one conntrack per flow as replay.Conntracks emulates it
// (the first packet of a flow setting its original direction, the
// kernel's ctinfo, private data kept between packets when the parser
// says it changed), each packet decided by engine.Decide.
package pcaptest

import (
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/gonfct/gonfct/pkg/cthelper"
	"github.com/gonfct/gonfct/pkg/cthelper/engine"
	"github.com/gonfct/gonfct/pkg/cthelper/replay"
	"golang.org/x/sys/unix"
)

// Frame is one captured TCP or UDP packet.
type Frame struct {
	Family           uint8
	Proto            uint8
	Src, Dst         netip.Addr
	SrcPort, DstPort uint16
	Seq              uint32
	SYN, FIN, ACK    bool
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
			f.SYN, f.FIN, f.ACK = flags&0x02 != 0, flags&0x01 != 0, flags&0x10 != 0
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

// Replay runs every packet with a payload through parser with
// engine.Decide, one conntrack per flow (replay.Conntracks: the first
// packet seen, SYN or data, is the original direction, unless it is a
// SYN-ACK), keeping each flow's private data (privLen bytes, zeroed at
// start) between packets as the kernel would. Packets without payload
// are not handed to the parser (the engine's rules would not queue them
// to a helper that ignores them anyway) but count for their conntrack's
// state. A parser that panics fails the test.
func Replay(t testing.TB, parser cthelper.Parser, privLen int, frames []Frame) []Step {
	t.Helper()
	s := &engine.Serving{Parser: parser, PrivLen: privLen}
	var steps []Step
	walk(frames, privLen, func(p *cthelper.Packet, ct *replay.Conntrack, view *engine.Conntrack) {
		pl := new(engine.Plan)
		engine.Decide(s, p, view, pl)
		ct.Apply(pl)
		if pl.Outcome == engine.Panicked {
			t.Fatalf("parser panicked: %s\n%s", pl.Panic, pl.Stack)
		}
		st := Step{Packet: pl.Packet, Result: pl.Result, Err: pl.Err}
		st.Packet.Priv = append([]byte(nil), pl.Packet.Priv...)
		steps = append(steps, st)
	})
	return steps
}

// walk emulates the conntracks of frames and calls fn with each packet
// with a payload, as decoded, its conntrack and what the kernel would
// report of it then.
func walk(frames []Frame, privLen int, fn func(p *cthelper.Packet, ct *replay.Conntrack, view *engine.Conntrack)) {
	cts := &replay.Conntracks{PrivLen: privLen}
	for _, f := range frames {
		p := cthelper.Packet{Family: f.Family, Proto: f.Proto, Src: f.Src, Dst: f.Dst,
			SrcPort: f.SrcPort, DstPort: f.DstPort, Seq: f.Seq, Payload: f.Payload}
		var flags byte
		if f.SYN {
			flags |= 0x02
		}
		if f.ACK {
			flags |= 0x10
		}
		ct, dir, _ := cts.Find(&p, flags)
		if len(f.Payload) > 0 {
			view := ct.View(dir)
			fn(&p, ct, &view)
		}
		ct.Passed(dir)
	}
}

// Expects gathers every expectation the steps asked for, in order.
func Expects(steps []Step) []cthelper.Expect {
	var out []cthelper.Expect
	for _, s := range steps {
		out = append(out, s.Result.Expects[:s.Result.NExpects]...)
	}
	return out
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
