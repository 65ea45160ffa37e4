package engine

import (
	"errors"
	"strings"
	"testing"

	"github.com/gonfct/gonfct/pkg/cthelper"
	"github.com/gonfct/gonfct/pkg/cthelper/ftp"
	"golang.org/x/sys/unix"
)

// decideInput is a 227 reply of the test conntrack, decoded.
func decideInput(t testing.TB, confirmed bool) (*cthelper.Packet, *Conntrack) {
	var p cthelper.Packet
	if _, err := decodeIP(mustHex(&testing.T{}, v4Reply227), &p); err != nil {
		t.Fatal(err)
	}
	return &p, &Conntrack{Info: cthelper.EstablishedReply, Orig: orig, Reply: reply, Confirmed: confirmed, Priv: ftpPriv(1000)}
}

// announcingParser asks for the expectations of its list: a NATed one
// announced in the payload ('n'), a plain one ('p'), one naming a helper
// ('h').
type announcingParser string

func (a announcingParser) Parse(p *cthelper.Packet, r *cthelper.Result) error {
	for i, c := range string(a) {
		e := cthelper.Expect{Proto: unix.IPPROTO_TCP, Dst: client, DstPort: uint16(50000 + i)}
		switch c {
		case 'n':
			e.NAT, e.NATAddr, e.NATPort = true, client, e.DstPort
			r.AddAnnounced(e, cthelper.Rewrite{Off: 10 * i, Len: 5, Data: []byte("50000")})
		case 'h':
			e.Helper = "ssdp"
			r.AddExpect(e)
		default:
			r.AddExpect(e)
		}
	}
	return nil
}

func (announcingParser) RenumberPort(r *cthelper.Result, i int, port uint16) error { return nil }

// plainParser is announcingParser without RenumberPort.
type plainParser struct{ list announcingParser }

func (p plainParser) Parse(pk *cthelper.Packet, r *cthelper.Result) error { return p.list.Parse(pk, r) }

// Each expectation's path: NATed announced ones of a confirmed master go
// first (when the parser can renumber them); one rides in the verdict
// (the first of an unconfirmed master or with --expect-via verdict, else
// one naming a helper); the rest ride ahead of the verdict.
func TestDecidePaths(t *testing.T) {
	const (
		V = PathVerdict
		C = PathCtnetlink
		F = PathFirst
	)
	for _, c := range []struct {
		name      string
		parser    cthelper.Parser
		via       ExpectVia
		confirmed bool
		want      []Path
	}{
		{"confirmed plain", announcingParser("pp"), ExpectAuto, true, []Path{C, C}},
		{"unconfirmed", announcingParser("pp"), ExpectAuto, false, []Path{V, C}},
		{"verdict", announcingParser("pp"), ExpectVerdict, true, []Path{V, C}},
		{"ctnetlink", announcingParser("pp"), ExpectCtnetlink, false, []Path{C, C}},
		{"helper named", announcingParser("ph"), ExpectAuto, true, []Path{C, V}},
		{"NAT announced", announcingParser("pn"), ExpectAuto, true, []Path{C, F}},
		{"NAT announced, first wins the verdict's place", announcingParser("np"), ExpectVerdict, true, []Path{F, C}},
		{"NAT on an unconfirmed master", announcingParser("n"), ExpectAuto, false, []Path{V}},
		{"NAT, parser cannot renumber", plainParser{"n"}, ExpectAuto, true, []Path{C}},
	} {
		t.Run(c.name, func(t *testing.T) {
			p, ct := decideInput(t, c.confirmed)
			var pl Plan
			Decide(&Serving{Name: "ftp", Parser: c.parser, PrivLen: 24, ExpectVia: c.via}, p, ct, &pl)
			if pl.Outcome != Helped || pl.Result.NExpects != len(c.want) {
				t.Fatalf("outcome %d, %d expectations", pl.Outcome, pl.Result.NExpects)
			}
			for i, want := range c.want {
				if pl.Via[i] != want {
					t.Errorf("expectation %d goes %s, want %s", i, pl.Via[i], want)
				}
			}
		})
	}
}

// Decide hands the parser the conntrack's view (direction from ctinfo,
// tuples, private data padded to the helper's length) without touching
// its inputs, and turns errors and panics into outcomes.
func TestDecideView(t *testing.T) {
	p, ct := decideInput(t, true)
	ct.Priv = []byte{1, 2, 3}
	inInfo, inPort, inPriv := p.Info, p.SrcPort, ct.Priv[0]
	var seen cthelper.Packet
	var pl Plan
	s := &Serving{Name: "ftp", PrivLen: 8, Parser: parserFunc(func(p *cthelper.Packet, r *cthelper.Result) error {
		seen = *p
		p.Priv[0] = 9
		r.PrivChanged = true
		return nil
	})}
	Decide(s, p, ct, &pl)
	if seen.Dir != cthelper.Reply || seen.Info != cthelper.EstablishedReply || seen.Orig != orig || seen.Reply != reply ||
		string(seen.Priv) != "\x09\x02\x03\x00\x00\x00\x00\x00" || !strings.HasPrefix(string(seen.Payload), "227 ") {
		t.Fatalf("parser saw %+v", seen)
	}
	if p.Info != inInfo || p.Priv != nil || p.SrcPort != inPort || ct.Priv[0] != inPriv {
		t.Fatal("Decide changed its inputs")
	}
	if e := pl.Expectation(0); pl.Result.NExpects != 0 || e.Master != orig {
		t.Fatalf("plan %+v", pl.Result)
	}

	s.Parser = parserFunc(func(p *cthelper.Packet, r *cthelper.Result) error {
		pasvExpect(r)
		return errors.New("bad line")
	})
	Decide(s, p, ct, &pl)
	if pl.Outcome != ParseError || pl.Err == nil || pl.Result.NExpects != 0 || pl.Verdict() != cthelper.Accept {
		t.Fatalf("parse error: %+v", pl)
	}
	s.Parser = parserFunc(func(p *cthelper.Packet, r *cthelper.Result) error {
		r.Verdict = cthelper.Drop
		panic("parser bug")
	})
	Decide(s, p, ct, &pl)
	if pl.Outcome != Panicked || pl.Panic != "parser bug" || len(pl.Stack) == 0 || pl.Verdict() != cthelper.Accept {
		t.Fatalf("panic: outcome %d %q", pl.Outcome, pl.Panic)
	}
}

// Decide, the real ftp parser included, does not allocate.
func TestDecideDoesNotAllocate(t *testing.T) {
	parser, err := ftp.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	s := &Serving{Name: "ftp", Parser: parser, PrivLen: 24}
	p, ct := decideInput(t, true)
	var pl Plan
	Decide(s, p, ct, &pl)
	if pl.Result.NExpects != 1 || pl.Via[0] != PathCtnetlink {
		t.Fatalf("%d expectations, via %s", pl.Result.NExpects, pl.Via[0])
	}
	if n := testing.AllocsPerRun(200, func() { Decide(s, p, ct, &pl) }); n != 0 {
		t.Fatalf("%v allocations per decision, want 0", n)
	}
}

// BenchmarkDecide is the decision alone for a 227 reply: the ftp parser
// and the plan, no decoding, no socket.
func BenchmarkDecide(b *testing.B) {
	parser, err := ftp.New(nil)
	if err != nil {
		b.Fatal(err)
	}
	s := &Serving{Name: "ftp", Parser: parser, PrivLen: 24}
	p, ct := decideInput(b, true)
	var pl Plan
	b.ReportAllocs()
	for b.Loop() {
		Decide(s, p, ct, &pl)
	}
	if pl.Result.NExpects != 1 {
		b.Fatal("no expectation")
	}
}
