package pattern

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/gonfct/gonfct/pkg/cthelper"
	"github.com/gonfct/gonfct/pkg/ctnetlink"
	"golang.org/x/sys/unix"
)

var (
	client4 = netip.MustParseAddr("10.9.0.2")
	server4 = netip.MustParseAddr("10.9.1.1")
	public4 = netip.MustParseAddr("203.0.113.55")
	client6 = netip.MustParseAddr("fd09::2")
	server6 = netip.MustParseAddr("fd09:1::1")
)

const lobbyExpr = `^MATCH (?P<port>[0-9]+)\r?$`

// conn is a master connection as the engine describes it, with its
// private data.
type conn struct {
	proto       uint8
	orig, reply ctnetlink.Tuple
	priv        []byte
	seq         [2]uint32 // next sequence number per direction
}

func newConn(proto uint8, client, server netip.Addr) *conn {
	return &conn{
		proto: proto,
		orig:  ctnetlink.Tuple{Proto: proto, Src: client, Dst: server, SrcPort: 45690, DstPort: 7777},
		reply: ctnetlink.Tuple{Proto: proto, Src: server, Dst: client, SrcPort: 7777, DstPort: 45690},
		priv:  make([]byte, PrivLen),
		seq:   [2]uint32{1000, 5000},
	}
}

// snat translates the client to addr; dnat makes the client dial addr.
func (c *conn) snat(addr netip.Addr) *conn { c.reply.Dst = addr; return c }
func (c *conn) dnat(addr netip.Addr) *conn { c.orig.Dst = addr; return c }

// packet is the next segment in direction dir (its sequence number
// follows the previous one's data).
func (c *conn) packet(dir cthelper.Direction, payload string) *cthelper.Packet {
	p := &cthelper.Packet{Family: unix.AF_INET, Proto: c.proto, Dir: dir, Orig: c.orig, Reply: c.reply,
		Payload: []byte(payload), Priv: c.priv, Seq: c.seq[dir]}
	if c.orig.Src.Is6() {
		p.Family = unix.AF_INET6
	}
	t := c.orig
	p.Info = cthelper.Established
	if dir == cthelper.Reply {
		t = c.reply
		p.Info = cthelper.EstablishedReply
	}
	p.Src, p.Dst, p.SrcPort, p.DstPort = t.Src, t.Dst, t.SrcPort, t.DstPort
	if c.proto == unix.IPPROTO_TCP {
		c.seq[dir] += uint32(len(payload))
	}
	return p
}

// step is the packet of one step of a session: "o:PAYLOAD" from the
// client, "r:PAYLOAD" from the server.
func (c *conn) step(s string) *cthelper.Packet {
	if s[0] == 'r' {
		return c.packet(cthelper.Reply, s[2:])
	}
	return c.packet(cthelper.Original, s[2:])
}

func mustNew(t testing.TB, o cthelper.Options, rules ...Rule) *Parser {
	t.Helper()
	h, err := New("test", rules, o)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func parse(h *Parser, p *cthelper.Packet) (*cthelper.Result, error) {
	r := &cthelper.Result{}
	r.Reset()
	err := h.Parse(p, r)
	return r, err
}

// run parses a session's steps in order (see conn.step): the
// expectations of all, and the last error.
func run(h *Parser, c *conn, steps ...string) ([]cthelper.Expect, error) {
	var exps []cthelper.Expect
	var last error
	for _, s := range steps {
		r, err := parse(h, c.step(s))
		if err != nil {
			last = err
		}
		exps = append(exps, r.Expects[:r.NExpects]...)
	}
	return exps, last
}

func TestParse(t *testing.T) {
	lobby := Rule{Expr: lobbyExpr, Dir: DirReply, Expect: unix.IPPROTO_UDP}
	data := Rule{Expr: `^DATA (?P<addr>\S+) (?P<port>\d+)$`}
	ftpLike := Rule{Expr: `^PORT (?P<addr>\d+,\d+,\d+,\d+),(?P<port_hi>\d+),(?P<port_lo>\d+)$`, Dir: DirOriginal}
	udpTo := func(dst netip.Addr, port uint16, src netip.Addr) cthelper.Expect {
		return cthelper.Expect{Proto: unix.IPPROTO_UDP, Src: src, AnySrcPort: true, Dst: dst, DstPort: port}
	}
	tcpTo := func(dst netip.Addr, port uint16, src netip.Addr) cthelper.Expect {
		e := udpTo(dst, port, src)
		e.Proto = unix.IPPROTO_TCP
		return e
	}
	tests := []struct {
		name   string
		rules  []Rule
		opts   cthelper.Options
		proto  uint8
		six    bool
		steps  []string
		want   []cthelper.Expect
		errIs  error
		errHas string
	}{
		{name: "lobby", rules: []Rule{lobby}, steps: []string{"o:JOIN alice\r\n", "r:MATCH 40123\r\n", "r:BYE\r\n"},
			want: []cthelper.Expect{udpTo(server4, 40123, client4)}},
		{name: "lobby over IPv6", rules: []Rule{lobby}, six: true, steps: []string{"o:JOIN alice\r\n", "r:MATCH 40124\n"},
			want: []cthelper.Expect{udpTo(server6, 40124, client6)}},
		{name: "direction reply only", rules: []Rule{lobby}, steps: []string{"o:MATCH 40123\r\n"}},
		{name: "several lines in one segment", rules: []Rule{lobby}, steps: []string{"r:HELLO\r\nMATCH 40001\r\nMATCH 40002\r\n"},
			want: []cthelper.Expect{udpTo(server4, 40001, client4), udpTo(server4, 40002, client4)}},
		{name: "not at a line start", rules: []Rule{lobby}, steps: []string{"r:SAY hello ", "r:MATCH 40123\r\n"}},
		{name: "after a newline in the previous segment", rules: []Rule{lobby}, steps: []string{"r:HELLO\r\n", "r:MATCH 40123\r\n"},
			want: []cthelper.Expect{udpTo(server4, 40123, client4)}},
		{name: "line cut by the segment end", rules: []Rule{lobby}, steps: []string{"r:MATCH 401", "r:23\r\n"}},
		{name: "line after a skipped partial line", rules: []Rule{lobby}, steps: []string{"r:SAY hi", "r: there\r\nMATCH 40123\r\n"},
			want: []cthelper.Expect{udpTo(server4, 40123, client4)}},
		{name: "announcing its own address", rules: []Rule{data}, steps: []string{"o:DATA 10.9.0.2 40001\n"},
			want: []cthelper.Expect{tcpTo(client4, 40001, server4)}},
		{name: "third-party address", rules: []Rule{data}, steps: []string{"o:DATA 10.9.0.99 40001\n"}, errIs: ErrRefused, errHas: "loose"},
		{name: "third-party address, loose", rules: []Rule{data}, opts: cthelper.Options{"loose": "yes"}, steps: []string{"o:DATA 10.9.0.99 40001\n"},
			want: []cthelper.Expect{tcpTo(netip.MustParseAddr("10.9.0.99"), 40001, server4)}},
		{name: "IPv6 address on IPv4", rules: []Rule{data}, steps: []string{"o:DATA fd09::2 40001\n"}, errIs: ErrRefused, errHas: "between 10.9.0.2 and 10.9.1.1"},
		{name: "announcing its own IPv6 address", rules: []Rule{data}, six: true, steps: []string{"o:DATA fd09::2 40001\n"},
			want: []cthelper.Expect{tcpTo(client6, 40001, server6)}},
		{name: "own IPv6 address, written long", rules: []Rule{data}, six: true, steps: []string{"r:DATA FD09:0001:0:0:0:0:0:0001 40002\r\n"},
			want: []cthelper.Expect{tcpTo(server6, 40002, client6)}},
		{name: "third-party IPv6 address", rules: []Rule{data}, six: true, steps: []string{"o:DATA fd09::99 40001\n"}, errIs: ErrRefused, errHas: "not the sender's own fd09::2"},
		{name: "third-party IPv6 address, loose", rules: []Rule{data}, six: true, opts: cthelper.Options{"loose": "yes"}, steps: []string{"o:DATA fd09::99 40001\n"},
			want: []cthelper.Expect{tcpTo(netip.MustParseAddr("fd09::99"), 40001, server6)}},
		{name: "IPv4 address on IPv6", rules: []Rule{data}, six: true, steps: []string{"o:DATA 10.9.0.2 40001\n"}, errIs: ErrRefused, errHas: "between fd09::2 and fd09:1::1"},
		{name: "low port", rules: []Rule{data}, steps: []string{"o:DATA 10.9.0.2 22\n"}, errIs: ErrRefused, errHas: "low-ports"},
		{name: "low port allowed", rules: []Rule{data}, opts: cthelper.Options{"low-ports": "yes"}, steps: []string{"o:DATA 10.9.0.2 22\n"},
			want: []cthelper.Expect{tcpTo(client4, 22, server4)}},
		{name: "port too big", rules: []Rule{data}, steps: []string{"o:DATA 10.9.0.2 65536\n"}, errIs: ErrMalformed},
		{name: "not an address", rules: []Rule{data}, steps: []string{"o:DATA 10.9.0.256 4000\n"}, errIs: ErrMalformed},
		{name: "FTP style", rules: []Rule{ftpLike}, steps: []string{"o:PORT 10,9,0,2,195,80\r\n"},
			want: []cthelper.Expect{tcpTo(client4, 50000, server4)}},
		{name: "FTP style byte out of range", rules: []Rule{ftpLike}, steps: []string{"o:PORT 10,9,0,2,256,80\r\n"}, errIs: ErrMalformed},
		{name: "UDP datagram, last line without newline", rules: []Rule{{Expr: `^PORT=(?P<port>\d+)$`}}, proto: unix.IPPROTO_UDP,
			steps: []string{"r:HELLO\nPORT=5001"}, want: []cthelper.Expect{udpTo(server4, 5001, client4)}},
		{name: "whole payload", rules: []Rule{{Expr: `(?s)PORT=(?P<port>\d+);`, Whole: true}}, steps: []string{"r:a\nb PORT=5001;"},
			want: []cthelper.Expect{tcpTo(server4, 5001, client4)}},
		{name: "first rule that matches wins", rules: []Rule{{Expr: `(?P<port>\d+)`}, {Expr: `B(?P<port>\d+)`}}, steps: []string{"o:B4000 5000\n"},
			want: []cthelper.Expect{tcpTo(client4, 4000, server4)}},
		{name: "second rule when the first does not match", rules: []Rule{lobby, data}, steps: []string{"r:DATA 10.9.1.1 4000\n"},
			want: []cthelper.Expect{tcpTo(server4, 4000, client4)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := mustNew(t, tt.opts, tt.rules...)
			proto := tt.proto
			if proto == 0 {
				proto = unix.IPPROTO_TCP
			}
			c := newConn(proto, client4, server4)
			if tt.six {
				c = newConn(proto, client6, server6)
			}
			got, err := run(h, c, tt.steps...)
			if tt.errIs != nil || tt.errHas != "" {
				if err == nil || (tt.errIs != nil && !errors.Is(err, tt.errIs)) || !strings.Contains(err.Error(), tt.errHas) {
					t.Fatalf("error %v, want %v containing %q", err, tt.errIs, tt.errHas)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("expectations %+v, want %+v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("expectation %d: %+v, want %+v", i, got[i], tt.want[i])
				}
			}
		})
	}
}

// A retransmission of a segment that announced is read again (under NAT
// it must be rewritten the same way), and the first segment of each
// direction starts a line.
func TestRetransmission(t *testing.T) {
	h := mustNew(t, nil, Rule{Expr: lobbyExpr})
	c := newConn(unix.IPPROTO_TCP, client4, server4)
	first := c.packet(cthelper.Reply, "MATCH 40123\r\n")
	again := *first
	again.Priv = c.priv
	for i, p := range []*cthelper.Packet{first, &again} {
		r, err := parse(h, p)
		if err != nil || r.NExpects != 1 {
			t.Fatalf("copy %d: %d expectations, %v", i, r.NExpects, err)
		}
	}
}

func TestOptions(t *testing.T) {
	if _, err := New("x", []Rule{{Expr: lobbyExpr}}, cthelper.Options{"looose": "yes"}); err == nil || !strings.Contains(err.Error(), "loose, low-ports") {
		t.Errorf("unknown option: %v", err)
	}
	if _, err := New("x", []Rule{{Expr: lobbyExpr}}, cthelper.Options{"loose": "maybe"}); err == nil {
		t.Error("loose=maybe accepted")
	}
	if _, err := New("x", nil, nil); err == nil {
		t.Error("no pattern accepted")
	}
	if _, err := New("x", []Rule{{Expr: lobbyExpr}, {Expr: "(?P<port>x"}}, nil); err == nil || !strings.Contains(err.Error(), "pattern 2") {
		t.Errorf("bad second pattern: %v", err)
	}
}

func TestCompileErrors(t *testing.T) {
	for _, tt := range []struct {
		expr   string
		offset int
		has    string
	}{
		{`^MATCH (?P<port>[0-9]+`, 0, "missing closing )"},
		{`^MATCH [0-9]+$`, -1, "names no port"},
		{`^MATCH (?P<prot>[0-9]+)$`, 7, `unknown group name "prot"`},
		{`(?P<port>\d+) (?P<port_lo>\d+)`, 14, "not both"},
		{`x(?P<port_hi>\d+)`, 1, "go together"},
		{`(?P<port>\d+)(?P<port>\d+)`, 0, "named twice"},
		{`a\Kb(?P<port>1)`, 1, "invalid escape"},
		{`[^\x00-\x{10FFFF}](?P<port>\d+)`, -1, "never match"},
		{`^MATCH (?P<port>\d+)?$`, 7, "without its port"},
		{`^MATCH (?:(?P<port_hi>\d+)|x),(?P<port_lo>\d+)$`, 10, "without its port"},
		{`(?P<port>\d{1000}\d{1000}\d{1000}\d{1000}\d{1000})`, -1, "too large"},
	} {
		err := Compile(Rule{Expr: tt.expr})
		var se *SyntaxError
		if !errors.As(err, &se) || se.Offset != tt.offset || !strings.Contains(se.Msg, tt.has) {
			t.Errorf("%q: %v (offset %v), want offset %d and %q", tt.expr, err, se, tt.offset, tt.has)
		}
	}
	if err := Compile(Rule{Expr: lobbyExpr, Expect: 1}); err == nil {
		t.Error("Expect icmp accepted")
	}
}
