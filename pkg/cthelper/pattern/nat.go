package pattern

import (
	"bytes"
	"fmt"
	"net/netip"

	"github.com/gonfct/gonfct/pkg/cthelper"
	"github.com/gonfct/gonfct/pkg/cthelper/internal/ascii"
)

// Under NAT each expectation has one rewrite, linked by its Announce: the
// payload from the first announcing group to the last, rendered again
// with the translated address and the (possibly renumbered) port. Its
// text lives in one slot of Result.Scratch, after a small header that
// says where the port's digits are in it, so that RenumberPort can render
// a new port without the packet.
const (
	slotSize = len(cthelper.Result{}.Scratch) / cthelper.MaxRewrites
	hdrSize  = 5 // form, then start and end of the port (or port_hi) and of port_lo
	maxText  = slotSize - hdrSize
)

// Header forms.
const (
	formPort = 1
	formHiLo = 2
)

// addNAT adds e with the rewrite of its announcement, linked
// (Result.AddAnnounced keeps the rewrites in payload order, as the engine
// applies them front to back). An announcement that overlaps one already
// rewritten is left alone.
func (h *Parser) addNAT(r *cthelper.Result, e cthelper.Expect, a announcement, text []byte, off int) error {
	if r.NExpects == len(r.Expects) || r.NRewrites == len(r.Rewrites) {
		return nil
	}
	// The groups in text order.
	var gs [3]group
	n := 0
	for _, g := range []group{{slotAddr, kindAddr}, {slotPort, kindPort}, {slotLo, kindLo}} {
		if a.caps[g.slot] >= 0 && a.caps[g.slot+1] >= a.caps[g.slot] {
			gs[n] = g
			n++
		}
	}
	for i := 1; i < n; i++ {
		for j := i; j > 0 && a.caps[gs[j].slot] < a.caps[gs[j-1].slot]; j-- {
			gs[j], gs[j-1] = gs[j-1], gs[j]
		}
	}
	start, end := int(a.caps[gs[0].slot]), int(a.caps[gs[0].slot+1])
	for _, g := range gs[1:n] {
		end = max(end, int(a.caps[g.slot+1]))
	}
	w := cthelper.Rewrite{Off: off + start, Len: end - start}
	if overlaps(r, w) {
		return nil
	}

	// Render into a free slot: one no rewrite points into.
	slot := 0
	for slot < cthelper.MaxRewrites && slotUsed(r, slot) {
		slot++
	}
	s := r.Scratch[slot*slotSize : (slot+1)*slotSize]
	var b textBuf
	form := byte(formPort)
	if a.hiLo {
		form = formHiLo
	}
	var pos [4]byte
	prev := start
	for _, g := range gs[:n] {
		if int(a.caps[g.slot]) < prev {
			return fmt.Errorf("%s: %w: the groups of the announcement overlap: it cannot be rewritten under NAT", h.name, ErrRefused)
		}
		b.add(text[prev:a.caps[g.slot]])
		at := b.n
		switch g.kind {
		case kindAddr:
			b.addAddr(e.Dst, a.commas)
		case kindPort:
			if form == formHiLo {
				b.addUint(uint64(e.DstPort >> 8))
			} else {
				b.addUint(uint64(e.DstPort))
			}
			pos[0], pos[1] = byte(at), byte(b.n)
		case kindLo:
			b.addUint(uint64(e.DstPort & 0xff))
			pos[2], pos[3] = byte(at), byte(b.n)
		}
		prev = int(a.caps[g.slot+1])
	}
	if b.over {
		return fmt.Errorf("%s: %w: announcement of %d bytes too long to rewrite under NAT (at most %d)", h.name, ErrRefused, end-start, maxText)
	}
	s[0] = form
	copy(s[1:hdrSize], pos[:])
	copy(s[hdrSize:], b.b[:b.n])
	w.Data = s[hdrSize : hdrSize+b.n]

	r.AddAnnounced(e, w)
	return nil
}

// overlaps reports whether w overlaps a rewrite already in r.
func overlaps(r *cthelper.Result, w cthelper.Rewrite) bool {
	for _, o := range r.Rewrites[:r.NRewrites] {
		if w.Off < o.Off+o.Len && o.Off < w.Off+w.Len {
			return true
		}
	}
	return false
}

type groupKind uint8

const (
	kindAddr groupKind = iota
	kindPort           // port, or port_hi
	kindLo
)

type group struct {
	slot int
	kind groupKind
}

// slotUsed reports whether a rewrite's text is in Scratch slot i.
func slotUsed(r *cthelper.Result, i int) bool {
	first := &r.Scratch[i*slotSize+hdrSize]
	for k := range r.NRewrites {
		if d := r.Rewrites[k].Data; cap(d) > 0 && &d[:1][0] == first {
			return true
		}
	}
	return false
}

// RenumberPort moves NATed expectation i to port and renders its rewrite
// again to announce it (cthelper.PortRenumberer). It does not allocate.
func (h *Parser) RenumberPort(r *cthelper.Result, i int, port uint16) error {
	if i < 0 || i >= r.NExpects || !r.Expects[i].NAT {
		return fmt.Errorf("%s: expectation %d has no NAT rewrite", h.name, i)
	}
	k, ok := r.Expects[i].Announcement()
	if !ok || k >= r.NRewrites {
		return fmt.Errorf("%s: expectation %d has no NAT rewrite", h.name, i)
	}
	w := &r.Rewrites[k]
	slot := -1
	for s := range cthelper.MaxRewrites {
		if cap(w.Data) > 0 && &w.Data[:1][0] == &r.Scratch[s*slotSize+hdrSize] {
			slot = s
		}
	}
	if slot < 0 {
		return fmt.Errorf("%s: expectation %d's rewrite is not the parser's", h.name, i)
	}
	s := r.Scratch[slot*slotSize : (slot+1)*slotSize]
	old := s[hdrSize : hdrSize+len(w.Data)]
	var b textBuf
	var pos [4]byte
	p0, p1 := int(s[1]), int(s[2])
	b.add(old[:p0])
	pos[0] = byte(b.n)
	if s[0] == formHiLo {
		b.addUint(uint64(port >> 8))
		pos[1] = byte(b.n)
		l0, l1 := int(s[3]), int(s[4])
		b.add(old[p1:l0])
		pos[2] = byte(b.n)
		b.addUint(uint64(port & 0xff))
		pos[3] = byte(b.n)
		b.add(old[l1:])
	} else {
		b.addUint(uint64(port))
		pos[1] = byte(b.n)
		b.add(old[p1:])
	}
	if b.over {
		return fmt.Errorf("%s: port %d does not fit the rewrite", h.name, port)
	}
	copy(s[1:hdrSize], pos[:])
	copy(s[hdrSize:], b.b[:b.n])
	w.Data = s[hdrSize : hdrSize+b.n]
	r.Expects[i].DstPort = port
	return nil
}

// textBuf renders a rewrite on the stack; over records that it did not
// fit a slot.
type textBuf struct {
	b    [maxText]byte
	n    int
	over bool
}

func (t *textBuf) add(p []byte) {
	if t.n+len(p) > len(t.b) {
		t.over = true
		return
	}
	t.n += copy(t.b[t.n:], p)
}

func (t *textBuf) addUint(v uint64) {
	var d [20]byte
	t.add(ascii.AppendUint(d[:0], v))
}

func (t *textBuf) addAddr(a netip.Addr, commas bool) {
	var d [48]byte
	text := a.AppendTo(d[:0])
	if commas {
		for i, c := range text {
			if c == '.' {
				text[i] = ','
			}
		}
	}
	t.add(text)
}

// portValue reads a decimal port that makes up all of b.
func portValue(b []byte) (uint16, bool) { return ascii.Port(b) }

// byteValue reads a decimal 0..255 that makes up all of b.
func byteValue(b []byte) (uint8, bool) {
	v, n := ascii.Uint(b, 255)
	return uint8(v), n > 0 && n == len(b)
}

// addrValue reads an IPv4 or IPv6 address that makes up all of b; an IPv4
// address may be written with commas ("10,0,0,2").
func addrValue(b []byte) (netip.Addr, bool, bool) {
	if bytes.Count(b, comma) == 3 && bytes.IndexByte(b, '.') < 0 {
		var q [4]byte
		for i := range 4 {
			v, n := ascii.Uint(b, 255)
			if n == 0 || (i < 3 && (n == len(b) || b[n] != ',')) {
				return netip.Addr{}, true, false
			}
			q[i] = uint8(v)
			b = b[n:]
			if i < 3 {
				b = b[1:]
			}
		}
		return netip.AddrFrom4(q), true, len(b) == 0
	}
	a, ok := ascii.Addr(b)
	return a, false, ok
}

var comma = []byte{','}
