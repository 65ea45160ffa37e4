package ftp

import (
	"testing"

	"github.com/gonfct/gonfct/pkg/cthelper"
)

// A control connection another firewall tracked until a failover: the
// conntrack conntrackd commits here carries the helper but zeroed private
// data, and its sequence numbers are far from anything known. The first
// segment in each direction is taken as a line start (the kernel's pick-up),
// after which line tracking is the usual one.
func TestPickUpOnInjectedConntrack(t *testing.T) {
	O, R := cthelper.Original, cthelper.Reply
	for _, tc := range []struct {
		name    string
		dir     cthelper.Direction
		payload string
		want    cthelper.Expect
	}{
		{"227 first after takeover", R, "227 Entering passive mode (10,0,0,1,195,80).\r\n", exp(client4, server4, 50000)},
		{"PORT first after takeover", O, "PORT 10,0,0,2,195,81\r\n", exp(server4, client4, 50001)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFlow(client4, server4)
			f.priv = [PrivLen]byte{}
			const seq = 3_000_000_000
			r, err := parseWith(t, nil, f.packet(tc.dir, seq, tc.payload))
			if err != nil || r.NExpects != 1 || r.Expects[0] != tc.want {
				t.Fatalf("err %v, %d expectations %+v, want %+v", err, r.NExpects, r.Expects[:r.NExpects], tc.want)
			}
			if !r.PrivChanged {
				t.Fatal("the line start after the picked-up segment is not saved")
			}
			st, _ := loadState(f.priv[:])
			if st.num[tc.dir] != 1 || st.seq[tc.dir][0] != seq+uint32(len(tc.payload)) || st.num[1-tc.dir] != 0 {
				t.Fatalf("state after pick-up %+v", st)
			}
			// Known from now on: a segment elsewhere in the stream is no
			// line start any more.
			if r, _ := parseWith(t, nil, f.packet(tc.dir, seq+7, tc.payload)); r.NExpects != 0 {
				t.Fatalf("a segment at an unknown sequence number after the pick-up gave %+v", r.Expects[:r.NExpects])
			}
		})
	}
}

// The kernel's pick-up flag (set by its own helper on a conntrack made over
// ctnetlink, and carried by `ct save`) picks up once even with stale line
// starts, and is cleared.
func TestPickUpFlag(t *testing.T) {
	f := newFlow(client4, server4)
	st, _ := loadState(f.priv[:])
	st.flags[cthelper.Reply] = seqPickUp
	st.store(f.priv[:])
	line := "227 Entering passive mode (10,0,0,1,195,80).\r\n"
	r, err := parseWith(t, nil, f.packet(cthelper.Reply, lineStart+5000, line))
	if err != nil || r.NExpects != 1 || !r.PrivChanged {
		t.Fatalf("err %v, %d expectations, priv changed %v", err, r.NExpects, r.PrivChanged)
	}
	if st, _ = loadState(f.priv[:]); st.flags[cthelper.Reply] != 0 {
		t.Fatalf("pick-up flag not cleared: %+v", st)
	}
	if r, _ := parseWith(t, nil, f.packet(cthelper.Reply, lineStart+9000, line)); r.NExpects != 0 {
		t.Fatal("picked up twice")
	}
	// Without the flag, stale line starts are not picked up.
	g := newFlow(client4, server4)
	if r, _ := parseWith(t, nil, g.packet(cthelper.Reply, lineStart+5000, line)); r.NExpects != 0 {
		t.Fatal("a segment at an unknown sequence number with known line starts was parsed")
	}
}
