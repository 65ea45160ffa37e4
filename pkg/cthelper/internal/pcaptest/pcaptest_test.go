package pcaptest

import (
	"net/netip"
	"path/filepath"
	"slices"
	"testing"

	"github.com/gonfct/gonfct/pkg/cthelper"
	"golang.org/x/sys/unix"
)

type recorder struct{ seen []cthelper.Packet }

func (r *recorder) Parse(p *cthelper.Packet, res *cthelper.Result) error {
	r.seen = append(r.seen, *p)
	p.Priv[0]++
	res.PrivChanged = true
	return nil
}

func TestReadAndReplay(t *testing.T) {
	frames := Read(t, filepath.Join("..", "..", "rpc", "testdata", "getport-tcp.pcap"))
	if len(frames) < 6 || !frames[0].SYN || frames[0].Proto != unix.IPPROTO_TCP || frames[0].DstPort != 111 {
		t.Fatalf("frames: %+v", frames)
	}
	var r recorder
	steps := Replay(t, &r, 1, frames)
	if len(steps) != 2 || len(r.seen) != 2 {
		t.Fatalf("%d steps for the call and the reply", len(steps))
	}
	call, reply := r.seen[0], r.seen[1]
	if call.Dir != cthelper.Original || call.Info != cthelper.Established || reply.Dir != cthelper.Reply || reply.Info != cthelper.EstablishedReply {
		t.Errorf("directions: %v/%v then %v/%v", call.Dir, call.Info, reply.Dir, reply.Info)
	}
	lo := netip.MustParseAddr("127.0.0.1")
	if call.Orig.Src != lo || call.Orig.DstPort != 111 || call.Reply.SrcPort != 111 || call.Reply.Dst != lo {
		t.Errorf("tuples: %+v %+v", call.Orig, call.Reply)
	}
	if steps[1].Packet.Priv[0] != 2 {
		t.Errorf("private data not kept between packets: %v", steps[1].Packet.Priv)
	}
	if _, err := Parse([]byte("not a pcap file at all, no")); err == nil {
		t.Error("garbage parsed")
	}
}

// The ctinfo each packet is handed with is the kernel's (what its NFQUEUE
// glue reports, nf_ct_get's): NEW for every original-direction packet
// until the conntrack has seen a reply — its first packet included,
// whether TCP or UDP, and a second one before any answer —, then
// ESTABLISHED; ESTABLISHED_REPLY for replies. (This package used to say
// ESTABLISHED for a TCP flow's first data packet and for a UDP flow's
// second packet, and `gonfct helper test` NEW.)
func TestCTInfoIsTheKernels(t *testing.T) {
	c, s := netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("10.0.0.1")
	frame := func(proto uint8, out bool, payload string, syn, ack bool) Frame {
		f := Frame{Family: unix.AF_INET, Proto: proto, Src: c, Dst: s, SrcPort: 40000, DstPort: 69, Payload: []byte(payload), SYN: syn, ACK: ack}
		if !out {
			f.Src, f.Dst, f.SrcPort, f.DstPort = s, c, 69, 40000
		}
		return f
	}
	const udp, tcp = unix.IPPROTO_UDP, unix.IPPROTO_TCP
	for _, tc := range []struct {
		name   string
		frames []Frame
		want   []cthelper.CTInfo
	}{
		{"UDP, asked twice before the answer", []Frame{
			frame(udp, true, "a", false, false), frame(udp, true, "b", false, false),
			frame(udp, false, "c", false, false), frame(udp, true, "d", false, false)},
			[]cthelper.CTInfo{cthelper.New, cthelper.New, cthelper.EstablishedReply, cthelper.Established}},
		{"TCP without a handshake", []Frame{
			frame(tcp, true, "a", false, true), frame(tcp, false, "b", false, true), frame(tcp, true, "c", false, true)},
			[]cthelper.CTInfo{cthelper.New, cthelper.EstablishedReply, cthelper.Established}},
		{"TCP after a handshake", []Frame{
			frame(tcp, true, "", true, false), frame(tcp, false, "", true, true), frame(tcp, true, "", false, true),
			frame(tcp, true, "a", false, true)},
			[]cthelper.CTInfo{cthelper.Established}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var r recorder
			Replay(t, &r, 1, tc.frames)
			var got []cthelper.CTInfo
			for _, p := range r.seen {
				got = append(got, p.Info)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("ctinfo %v, want %v", got, tc.want)
			}
		})
	}
}

// Private data changes reach the next packet only when the parser says
// so (Result.PrivChanged): the engine sends it back to the kernel only
// then.
func TestPrivKeptOnlyWhenChanged(t *testing.T) {
	frames := Read(t, filepath.Join("..", "..", "rpc", "testdata", "getport-udp.pcap"))
	var seen [][]byte
	p := parserFunc(func(p *cthelper.Packet, r *cthelper.Result) error {
		seen = append(seen, slices.Clone(p.Priv))
		p.Priv[0]++
		return nil
	})
	Replay(t, p, 1, frames)
	if len(seen) < 2 {
		t.Fatalf("%d packets seen", len(seen))
	}
	for _, b := range seen {
		if b[0] != 0 {
			t.Fatalf("private data seen %v: a change without PrivChanged was kept", seen)
		}
	}
}

type parserFunc func(p *cthelper.Packet, r *cthelper.Result) error

func (f parserFunc) Parse(p *cthelper.Packet, r *cthelper.Result) error { return f(p, r) }
