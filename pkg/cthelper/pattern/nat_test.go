package pattern

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/gonfct/gonfct/pkg/cthelper"
	"github.com/gonfct/gonfct/pkg/cthelper/internal/pcaptest"
	"golang.org/x/sys/unix"
)

// Under NAT the announcement is rewritten to what the other side reaches
// and the expectation follows the master's NAT back to what was
// announced. A rewrite that changes the payload's length says so (its
// Data is not Len bytes long): on TCP the engine then sends NFQA_CT with
// the verdict so that the kernel adjusts the sequence numbers after it.
func TestNAT(t *testing.T) {
	data := Rule{Expr: `^DATA (?P<addr>\S+) (?P<port>\d+)$`}
	public6 := netip.MustParseAddr("2001:db8:ffff::55")
	tests := []struct {
		name  string
		rules []Rule
		conn  *conn
		step  string
		text  string // the payload after the rewrites
		grow  int    // bytes the rewrites add to the payload (negative: remove)
		want  cthelper.Expect
	}{
		{name: "SNAT, the client announces its address", rules: []Rule{data},
			conn: newConn(unix.IPPROTO_TCP, client4, server4).snat(public4), step: "o:DATA 10.9.0.2 40001\r\n",
			text: "DATA 203.0.113.55 40001\r\n", grow: 4,
			want: cthelper.Expect{Proto: unix.IPPROTO_TCP, Src: server4, AnySrcPort: true, Dst: public4, DstPort: 40001,
				NAT: true, NATDir: cthelper.Reply, NATAddr: client4, NATPort: 40001}},
		{name: "DNAT, the server announces its address", rules: []Rule{data},
			conn: newConn(unix.IPPROTO_TCP, client4, server4).dnat(public4), step: "r:DATA 10.9.1.1 40002\n",
			text: "DATA 203.0.113.55 40002\n", grow: 4,
			want: cthelper.Expect{Proto: unix.IPPROTO_TCP, Src: client4, AnySrcPort: true, Dst: public4, DstPort: 40002,
				NAT: true, NATDir: cthelper.Original, NATAddr: server4, NATPort: 40002}},
		{name: "port only", rules: []Rule{{Expr: lobbyExpr, Expect: unix.IPPROTO_UDP}},
			conn: newConn(unix.IPPROTO_TCP, client4, server4).dnat(public4), step: "r:MATCH 40123\r\n",
			text: "MATCH 40123\r\n",
			want: cthelper.Expect{Proto: unix.IPPROTO_UDP, Src: client4, AnySrcPort: true, Dst: public4, DstPort: 40123,
				NAT: true, NATDir: cthelper.Original, NATAddr: server4, NATPort: 40123}},
		{name: "port before address, FTP-style address", rules: []Rule{{Expr: `^P=(?P<port>\d+) A=(?P<addr>[\d,]+)$`}},
			conn: newConn(unix.IPPROTO_TCP, client4, server4).snat(public4), step: "o:P=40003 A=10,9,0,2\n",
			text: "P=40003 A=203,0,113,55\n", grow: 4,
			want: cthelper.Expect{Proto: unix.IPPROTO_TCP, Src: server4, AnySrcPort: true, Dst: public4, DstPort: 40003,
				NAT: true, NATDir: cthelper.Reply, NATAddr: client4, NATPort: 40003}},
		{name: "UDP master", rules: []Rule{data},
			conn: newConn(unix.IPPROTO_UDP, client4, server4).snat(public4), step: "o:DATA 10.9.0.2 40004",
			text: "DATA 203.0.113.55 40004", grow: 4,
			want: cthelper.Expect{Proto: unix.IPPROTO_UDP, Src: server4, AnySrcPort: true, Dst: public4, DstPort: 40004,
				NAT: true, NATDir: cthelper.Reply, NATAddr: client4, NATPort: 40004}},
		{name: "SNAT over IPv6, a longer address", rules: []Rule{data},
			conn: newConn(unix.IPPROTO_TCP, client6, server6).snat(public6), step: "o:DATA fd09::2 40005\r\n",
			text: "DATA 2001:db8:ffff::55 40005\r\n", grow: 10,
			want: cthelper.Expect{Proto: unix.IPPROTO_TCP, Src: server6, AnySrcPort: true, Dst: public6, DstPort: 40005,
				NAT: true, NATDir: cthelper.Reply, NATAddr: client6, NATPort: 40005}},
		{name: "SNAT over IPv6, a shorter address", rules: []Rule{data},
			conn: newConn(unix.IPPROTO_TCP, public6, server6).snat(client6), step: "o:DATA 2001:db8:ffff::55 40006\n",
			text: "DATA fd09::2 40006\n", grow: -10,
			want: cthelper.Expect{Proto: unix.IPPROTO_TCP, Src: server6, AnySrcPort: true, Dst: client6, DstPort: 40006,
				NAT: true, NATDir: cthelper.Reply, NATAddr: public6, NATPort: 40006}},
		{name: "DNAT over IPv6", rules: []Rule{data},
			conn: newConn(unix.IPPROTO_TCP, client6, server6).dnat(public6), step: "r:DATA fd09:1::1 40007\r\n",
			text: "DATA 2001:db8:ffff::55 40007\r\n", grow: 8,
			want: cthelper.Expect{Proto: unix.IPPROTO_TCP, Src: client6, AnySrcPort: true, Dst: public6, DstPort: 40007,
				NAT: true, NATDir: cthelper.Original, NATAddr: server6, NATPort: 40007}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := tt.conn.step(tt.step)
			r, err := parse(mustNew(t, nil, tt.rules...), p)
			if err != nil {
				t.Fatal(err)
			}
			tt.want.Announce = 1 // linked to the one rewrite
			if got := r.Expects[:r.NExpects]; len(got) != 1 || got[0] != tt.want {
				t.Fatalf("expectations %+v, want %+v", got, tt.want)
			}
			if r.NRewrites != 1 {
				t.Fatalf("%d rewrites, want 1", r.NRewrites)
			}
			if text := string(pcaptest.Apply(t, p.Payload, r)); text != tt.text {
				t.Fatalf("payload %q, want %q", text, tt.text)
			}
			if w := r.Rewrites[0]; len(w.Data)-w.Len != tt.grow {
				t.Errorf("rewrite of %d bytes into %d: the payload grows by %d, want %d", w.Len, len(w.Data), len(w.Data)-w.Len, tt.grow)
			}
		})
	}
}

// Several announcements in one segment: each expectation is linked to
// the rewrite that announces it (rewrites in payload order, expectations
// in the order the rules found them), and RenumberPort moves one of them
// (the engine's answer to a port another connection holds).
func TestNATRenumber(t *testing.T) {
	h := mustNew(t, nil,
		Rule{Expr: `^DATA (?P<addr>\S+) (?P<port>\d+)$`},
		Rule{Expr: `^PORT (?P<addr>\d+,\d+,\d+,\d+),(?P<port_hi>\d+),(?P<port_lo>\d+)$`},
		Rule{Expr: `(?s)END(?P<port>\d+)\.$`, Whole: true})
	c := newConn(unix.IPPROTO_TCP, client4, server4).snat(public4)
	p := c.packet(cthelper.Original, "DATA 10.9.0.2 9999\nPORT 10,9,0,2,195,80\nEND40000.")
	r, err := parse(h, p)
	if err != nil || r.NExpects != 3 || r.NRewrites != 3 {
		t.Fatalf("%d expectations, %d rewrites, %v", r.NExpects, r.NRewrites, err)
	}
	// Each announced port moves to its own new one.
	moves := map[uint16]uint16{9999: 10000, 50000: 50001, 40000: 40001}
	for i := range r.NExpects {
		if err := h.RenumberPort(r, i, moves[r.Expects[i].NATPort]); err != nil {
			t.Fatal(err)
		}
	}
	for i := range r.NExpects {
		if e := r.Expects[i]; e.DstPort != moves[e.NATPort] {
			t.Errorf("expectation %d announced %d, now %d, want %d", i, e.NATPort, e.DstPort, moves[e.NATPort])
		}
	}
	got := string(pcaptest.Apply(t, p.Payload, r))
	if want := "DATA 203.0.113.55 10000\nPORT 203,0,113,55,195,81\nEND40001."; got != want {
		t.Errorf("after renumbering: %q", got)
	}
	if err := h.RenumberPort(r, 3, 1); err == nil {
		t.Error("renumbered an expectation that does not exist")
	}
}

// An announcement too long to render in its scratch slot is refused, not
// cut.
func TestNATTooLong(t *testing.T) {
	h := mustNew(t, nil, Rule{Expr: `^(?P<addr>[\d.]+) .* (?P<port>\d+)$`})
	c := newConn(unix.IPPROTO_TCP, client4, server4).snat(public4)
	p := c.packet(cthelper.Original, "10.9.0.2 and a long text between the address and the port 40001\n")
	if r, err := parse(h, p); err == nil || r.NExpects != 0 || r.NRewrites != 0 {
		t.Fatalf("%d expectations, %d rewrites, %v", r.NExpects, r.NRewrites, err)
	}
}

// Groups inside one another cannot be rendered again: refused, not a
// panic.
func TestNATNestedGroups(t *testing.T) {
	h := mustNew(t, cthelper.Options{"loose": "yes"}, Rule{Expr: `^(?P<addr>fd09::(?P<port>\d+))$`})
	c := newConn(unix.IPPROTO_TCP, client6, server6).snat(netip.MustParseAddr("2001:db8::55"))
	if r, err := parse(h, c.step("o:fd09::4000\n")); !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "overlap") || r.NExpects != 0 || r.NRewrites != 0 {
		t.Errorf("%d expectations, %d rewrites, %v", r.NExpects, r.NRewrites, err)
	}
}

func TestParseDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items at random under the race detector")
	}
	h := mustNew(t, nil,
		Rule{Expr: lobbyExpr, Dir: DirReply, Expect: unix.IPPROTO_UDP},
		Rule{Expr: `^DATA (?P<addr>\S+) (?P<port>\d+)$`},
		Rule{Expr: `PORT=(?P<port>\d+)`, Whole: true})
	for _, tt := range []struct {
		name string
		nat  bool
		step string
	}{
		{"no match", false, "o:JOIN alice\r\n"},
		{"match", false, "r:MATCH 40123\r\n"},
		{"whole payload", false, "r:x PORT=5000"},
		{"NAT rewrite", true, "o:DATA 10.9.0.2 40001\n"},
		{"IPv6 text", false, "o:DATA ::ffff:10.9.0.2 40001\n"},
	} {
		c := newConn(unix.IPPROTO_TCP, client4, server4)
		if tt.nat {
			c.snat(public4)
		}
		p := c.step(tt.step)
		r := &cthelper.Result{}
		h.Parse(p, r) // warm the matcher pool
		n := testing.AllocsPerRun(200, func() {
			clear(p.Priv)
			r.Reset()
			if err := h.Parse(p, r); err != nil {
				t.Fatal(err)
			}
		})
		if n != 0 {
			t.Errorf("%s: %v allocations per packet", tt.name, n)
		}
		if tt.name != "no match" && r.NExpects != 1 {
			t.Errorf("%s: %d expectations", tt.name, r.NExpects)
		}
	}
}

// FuzzParse: any pattern that compiles, on any payload, with or without
// NAT: rewrites stay in the payload, in order, one per NATed expectation;
// expectations have a port, and the announced address is the sender's
// own unless loose.
func FuzzParse(f *testing.F) {
	f.Add(`^DATA (?P<addr>\S+) (?P<port>\d+)\r?$`, false, true, []byte("DATA 10.9.0.2 40001\r\nDATA 10.9.0.2 40002\n"))
	f.Add(lobbyExpr, true, false, []byte("MATCH 40123\r\n"))
	f.Add(`(?P<port_hi>\d+),(?P<port_lo>\d+)`, false, true, []byte("1,2 3,4\n"))
	f.Add(`(?P<addr>fd09::(?P<port>\d{4}))`, false, true, []byte("fd09::4000\n"))
	addrs := map[netip.Addr]bool{client4: true, server4: true, public4: true}
	f.Fuzz(func(t *testing.T, expr string, whole, nat bool, payload []byte) {
		if len(expr) > 200 {
			return
		}
		h, err := New("fuzz", []Rule{{Expr: expr, Whole: whole}}, nil)
		if err != nil {
			return
		}
		c := newConn(unix.IPPROTO_TCP, client4, server4)
		if nat {
			c.snat(public4)
		}
		for _, dir := range []cthelper.Direction{cthelper.Original, cthelper.Reply} {
			r, _ := parse(h, c.packet(dir, string(payload)))
			if nat && r.NRewrites != r.NExpects || !nat && r.NRewrites != 0 {
				t.Fatalf("%d expectations, %d rewrites (NAT %v)", r.NExpects, r.NRewrites, nat)
			}
			end := 0
			for i := range r.NRewrites {
				w := r.Rewrites[i]
				if w.Off < end || w.Len < 0 || w.Off+w.Len > len(payload) {
					t.Fatalf("rewrite %d at %d+%d out of order or bounds (payload %d)", i, w.Off, w.Len, len(payload))
				}
				end = w.Off + w.Len
				if p := r.Expects[i].DstPort; p < 0xffff {
					if err := h.RenumberPort(r, i, p+1); err != nil || r.Expects[i].DstPort != p+1 {
						t.Fatalf("renumber %d: %v", i, err)
					}
				}
			}
			for i := range r.NExpects {
				e := r.Expects[i]
				if e.DstPort < 1024 || !addrs[e.Dst] || !addrs[e.Src] || e.NAT != nat {
					t.Fatalf("expectation %+v", e)
				}
			}
		}
	})
}
