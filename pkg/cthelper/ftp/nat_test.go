package ftp

import (
	"net/netip"
	"testing"

	"github.com/gonfct/gonfct/pkg/cthelper"
	"github.com/gonfct/gonfct/pkg/cthelper/internal/pcaptest"
)

func TestNAT(t *testing.T) {
	a := netip.MustParseAddr
	O, R := cthelper.Original, cthelper.Reply
	public4, public6 := a("203.0.113.5"), a("2001:db8:ffff::5")
	for _, tc := range []struct {
		name       string
		v6         bool
		snat, dnat bool
		dir        cthelper.Direction
		payload    string
		rewritten  string
		exp        cthelper.Expect
	}{
		// Client behind SNAT, active mode: tell the server the public
		// address; the data connection to it goes back to the client.
		{"PORT SNAT", false, true, false, O, "PORT 10,0,0,2,4,1\r\n", "PORT 203,0,113,5,4,1\r\n",
			cthelper.Expect{Src: server4, Dst: public4, DstPort: 1025, NATDir: R, NATAddr: client4, NATPort: 1025}},
		{"EPRT SNAT", false, true, false, O, "EPRT |1|10.0.0.2|50000|\r\n", "EPRT |1|203.0.113.5|50000|\r\n",
			cthelper.Expect{Src: server4, Dst: public4, DstPort: 50000, NATDir: R, NATAddr: client4, NATPort: 50000}},
		{"EPRT |2| SNAT", true, true, false, O, "EPRT !2!2001:db8::2!50000!\r\n", "EPRT !2!2001:db8:ffff::5!50000!\r\n",
			cthelper.Expect{Src: server6, Dst: public6, DstPort: 50000, NATDir: R, NATAddr: client6, NATPort: 50000}},
		// Server behind DNAT, passive mode: tell the client the public
		// address; its data connection is sent on to the server.
		{"227 DNAT", false, false, true, R, "227 Entering Passive Mode (10,0,0,1,200,10).\r\n", "227 Entering Passive Mode (203,0,113,5,200,10).\r\n",
			cthelper.Expect{Src: client4, Dst: public4, DstPort: 51210, NATDir: O, NATAddr: server4, NATPort: 51210}},
		{"229 DNAT", false, false, true, R, "229 Entering Extended Passive Mode (|||6446|)\r\n", "229 Entering Extended Passive Mode (|||6446|)\r\n",
			cthelper.Expect{Src: client4, Dst: public4, DstPort: 6446, NATDir: O, NATAddr: server4, NATPort: 6446}},
		{"229 DNAT IPv6", true, false, true, R, "229 (|||6446|)\r\n", "229 (|||6446|)\r\n",
			cthelper.Expect{Src: client6, Dst: public6, DstPort: 6446, NATDir: O, NATAddr: server6, NATPort: 6446}},
		// NAT on the other side only: the text stays, the expectation still
		// follows the master's NAT.
		{"PORT with DNAT only", false, false, true, O, "PORT 10,0,0,2,4,1\r\n", "PORT 10,0,0,2,4,1\r\n",
			cthelper.Expect{Src: server4, Dst: client4, DstPort: 1025, NATDir: R, NATAddr: client4, NATPort: 1025}},
	} {
		f := newFlow(client4, server4)
		public := public4
		if tc.v6 {
			f, public = newFlow(client6, server6), public6
		}
		if tc.snat {
			f.reply.Dst = public
		}
		if tc.dnat {
			f.orig.Dst = public
		}
		p := f.packet(tc.dir, lineStart, tc.payload)
		r, err := parseWith(t, nil, p)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if got := string(pcaptest.Apply(t, p.Payload, r)); got != tc.rewritten {
			t.Errorf("%s: rewritten to %q, want %q", tc.name, got, tc.rewritten)
		}
		want := tc.exp
		want.Proto, want.AnySrcPort, want.NAT, want.Announce = 6, true, true, 1
		if r.NExpects != 1 || r.Expects[0] != want {
			t.Errorf("%s: %d expectations %+v\nwant %+v", tc.name, r.NExpects, r.Expects[0], want)
		}
	}
}

func TestNATTwoLinesAndRenumber(t *testing.T) {
	f := newFlow(client4, server4)
	f.reply.Dst = netip.MustParseAddr("203.0.113.5")
	p := f.packet(cthelper.Original, lineStart, "PORT 10,0,0,2,4,1\r\nEPRT |1|10.0.0.2|2000|\r\n")
	parser, _ := New(nil)
	r := &cthelper.Result{}
	r.Reset()
	if err := parser.Parse(p, r); err != nil {
		t.Fatal(err)
	}
	if got := string(pcaptest.Apply(t, p.Payload, r)); got != "PORT 203,0,113,5,4,1\r\nEPRT |1|203.0.113.5|2000|\r\n" {
		t.Errorf("rewritten %q", got)
	}
	rn := parser.(*Parser)
	// The engine found both ports taken and moves them on.
	if err := rn.RenumberPort(r, 0, 1026); err != nil {
		t.Fatal(err)
	}
	if err := rn.RenumberPort(r, 1, 65535); err != nil {
		t.Fatal(err)
	}
	if got := string(pcaptest.Apply(t, p.Payload, r)); got != "PORT 203,0,113,5,4,2\r\nEPRT |1|203.0.113.5|65535|\r\n" {
		t.Errorf("renumbered %q", got)
	}
	if e := r.Expects[0]; e.DstPort != 1026 || e.NATPort != 1025 {
		t.Errorf("expectation 0 %+v", e)
	}
	if e := r.Expects[1]; e.DstPort != 65535 || e.NATPort != 2000 {
		t.Errorf("expectation 1 %+v", e)
	}
	if err := rn.RenumberPort(r, 2, 1); err == nil {
		t.Error("renumbering a missing expectation")
	}

	// EPSV and EPRT |2| forms renumber too.
	g := newFlow(client6, server6)
	g.orig.Dst = netip.MustParseAddr("2001:db8:ffff::5")
	q := g.packet(cthelper.Reply, lineStart, "229 (!!!6446!)\r\n")
	r.Reset()
	if err := parser.Parse(q, r); err != nil {
		t.Fatal(err)
	}
	rn.RenumberPort(r, 0, 6447)
	if got := string(pcaptest.Apply(t, q.Payload, r)); got != "229 (!!!6447!)\r\n" {
		t.Errorf("EPSV renumbered %q", got)
	}
	g.reply.Dst = netip.MustParseAddr("2001:db8:eeee::7")
	q = g.packet(cthelper.Original, lineStart, "EPRT |2|2001:db8::2|6000|\r\n")
	r.Reset()
	if err := parser.Parse(q, r); err != nil {
		t.Fatal(err)
	}
	rn.RenumberPort(r, 0, 6001)
	if got := string(pcaptest.Apply(t, q.Payload, r)); got != "EPRT |2|2001:db8:eeee::7|6001|\r\n" {
		t.Errorf("EPRT renumbered %q", got)
	}

	// Without NAT there is nothing to renumber.
	h := newFlow(client4, server4)
	r.Reset()
	parser.Parse(h.packet(cthelper.Original, lineStart, "PORT 10,0,0,2,4,1\r\n"), r)
	if err := rn.RenumberPort(r, 0, 1026); err == nil {
		t.Error("renumbered an expectation without NAT")
	}
}

// More announcements than a Result holds: the first ones are kept.
func TestFullResult(t *testing.T) {
	f := newFlow(client4, server4)
	f.reply.Dst = netip.MustParseAddr("203.0.113.5")
	payload := ""
	for i := 0; i < cthelper.MaxExpects+2; i++ {
		payload += "PORT 10,0,0,2,4,1\r\n"
	}
	r, err := parseWith(t, nil, f.packet(cthelper.Original, lineStart, payload))
	if err != nil || r.NExpects != cthelper.MaxExpects || r.NRewrites != cthelper.MaxExpects {
		t.Errorf("%v: %d expectations, %d rewrites", err, r.NExpects, r.NRewrites)
	}
}
