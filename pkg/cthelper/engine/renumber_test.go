package engine

import (
	"errors"
	"slices"
	"strconv"
	"testing"

	"github.com/gonfct/gonfct/pkg/cthelper"
	"github.com/gonfct/gonfct/pkg/nfq"
	"golang.org/x/sys/unix"
)

// twoPortParser announces two NATed ports in an order unlike their
// payload's: expectation 0 (port 50000) at payload offset 10, expectation
// 1 (port 40000) at offset 0, so rewrite 0 announces expectation 1. Each
// rewrite's text has its own part of Scratch.
type twoPortParser struct{}

func (twoPortParser) Parse(p *cthelper.Packet, r *cthelper.Result) error {
	for i, c := range []struct {
		port uint16
		off  int
	}{{50000, 10}, {40000, 0}} {
		data := strconv.AppendUint(r.Scratch[i*16:i*16:i*16+16], uint64(c.port), 10)
		r.AddAnnounced(cthelper.Expect{Proto: unix.IPPROTO_TCP, Src: server, Dst: client, AnySrcPort: true, DstPort: c.port,
			NAT: true, NATDir: cthelper.Reply, NATAddr: client, NATPort: c.port},
			cthelper.Rewrite{Off: c.off, Len: 5, Data: data})
	}
	return nil
}

func (twoPortParser) RenumberPort(r *cthelper.Result, i int, port uint16) error {
	k, ok := r.Expects[i].Announcement()
	if !ok {
		return errors.New("not announced")
	}
	r.Expects[i].DstPort = port
	r.Rewrites[k].Data = strconv.AppendUint(r.Rewrites[k].Data[:0], uint64(port), 10)
	return nil
}

// The port renumbering follows each expectation's link to the rewrite
// that announces it, not the index: the expectation whose port was taken
// moves, and the payload announces the new port where it announced the
// old one.
func TestHandleNATRenumberFollowsLink(t *testing.T) {
	r := newRig(t, twoPortParser{}, ExpectAuto)
	r.syncK.creates, r.syncK.holder = []int{int(unix.EBUSY)}, orig
	if err := r.w.serveOne(r.packet(t, true, nil)); err != nil {
		t.Fatal(err)
	}
	if want := []uint16{50000, 50001, 40000}; !slices.Equal(r.syncK.tried, want) {
		t.Fatalf("ports tried %v, want %v", r.syncK.tried, want)
	}
	v := r.verdict(t)
	const ip = 20 + 20
	if v.verdict != nfq.Accept || len(v.payload) < ip+15 {
		t.Fatalf("verdict %d payload %q", v.verdict, v.payload)
	}
	if got := string(v.payload[ip : ip+15]); got != "40000nteri50001" {
		t.Fatalf("payload starts %q, want the renumbered port at offset 10 and the other untouched", got)
	}
}
