package pcaptest

import (
	"net/netip"
	"path/filepath"
	"testing"

	"github.com/gonfct/gonfct/pkg/cthelper"
	"golang.org/x/sys/unix"
)

type recorder struct{ seen []cthelper.Packet }

func (r *recorder) Parse(p *cthelper.Packet, res *cthelper.Result) error {
	r.seen = append(r.seen, *p)
	p.Priv[0]++
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
