package pattern

import (
	"bytes"
	"regexp/syntax"
	"unicode/utf8"
)

// The matcher runs the program Go's RE2 compiler (regexp/syntax) makes of
// a pattern, as a Pike VM: every thread of the automaton advances one
// rune at a time, so a match costs time linear in the input whatever the
// pattern, and the thread lists are sized once from the program. Go's
// regexp runs the same programs but gives submatch positions only in a
// slice it allocates per call; this one writes them into the machine, so
// a packet costs no allocation.
//
// Threads are kept in priority order and a match cuts the threads below
// it, which gives the leftmost-first submatches of Go's regexp (Perl's
// rules); FuzzMatch holds the two to the same answers.

// nslots is how many capture positions a thread carries: the start and
// end of the addr group and of port (or port_hi) and port_lo.
const nslots = 6

type caps [nslots]int32

var noCaps = caps{-1, -1, -1, -1, -1, -1}

// thread is a program counter with the capture positions of its path.
type thread struct {
	pc   uint32
	caps caps
}

// threadList holds the threads waiting at one input position, in
// priority order. Every instruction entered at that position is marked
// with the list's generation, so that a second path to it is a no-op (the
// first one has priority); only the instructions that consume a rune or
// match become threads.
type threadList struct {
	mark  []uint32
	gen   uint32
	dense []thread
}

func newThreadList(n int) threadList {
	return threadList{mark: make([]uint32, n), gen: 1, dense: make([]thread, 0, n)}
}

// reset empties the list for the next position.
func (l *threadList) reset() {
	l.dense = l.dense[:0]
	if l.gen++; l.gen == 0 {
		clear(l.mark)
		l.gen = 1
	}
}

// enter marks pc and reports whether it was new at this position.
func (l *threadList) enter(pc uint32) bool {
	if l.mark[pc] == l.gen {
		return false
	}
	l.mark[pc] = l.gen
	return true
}

// frame is a pending step of add: follow pc, or (restore) put a capture
// position back when the path that set it is done.
type frame struct {
	pc      uint32
	restore bool
	slot    int8
	val     int32
}

// machine is the scratch one match needs, for programs of up to its size.
type machine struct {
	lists   [2]threadList // the current position's and the next one's, in turn
	stack   []frame
	match   caps
	matched bool
}

func newMachine(ninst int) *machine {
	return &machine{
		lists: [2]threadList{newThreadList(ninst), newThreadList(ninst)},
		// Each instruction is entered once per add; a capture adds one
		// restore frame and an alternation one more branch.
		stack: make([]frame, 0, 2*ninst+1),
	}
}

// run reports whether p matches in input; the positions of the groups
// gonfct reads are then in m.match (-1 for a group that took no part).
func (m *machine) run(p *program, input []byte) bool {
	m.matched = false
	// The two lists change roles at each position by swapping these
	// pointers (swapping the lists themselves copies both headers).
	clist, nlist := &m.lists[0], &m.lists[1]
	clist.reset()
	nlist.reset()
	pos := 0
	prev := rune(-1)
	if p.anchored {
		// The literal start is checked at once and not stepped through.
		if !p.mayStart(input) {
			return false
		}
		pos = len(p.prefix)
		if pos > 0 {
			prev, _ = utf8.DecodeLastRune(p.prefix)
		}
		r, _ := decodeAt(input, pos)
		c := p.prefixCaps
		m.add(p, clist, p.afterPrefix, pos, &c, prev, r)
	}
	r, w := decodeAt(input, pos)
	for {
		if !p.anchored && !m.matched {
			if len(clist.dense) == 0 && len(p.prefix) > 0 {
				// Nothing under way: jump to where a match can start.
				i := bytes.Index(input[pos:], p.prefix)
				if i < 0 {
					break
				}
				if i > 0 {
					pos += i
					prev, _ = utf8.DecodeLastRune(input[:pos])
					r, w = decodeAt(input, pos)
				}
			}
			c := noCaps
			m.add(p, clist, uint32(p.start), pos, &c, prev, r)
		}
		if len(clist.dense) == 0 && (m.matched || p.anchored || pos >= len(input)) {
			break
		}
		r2, w2 := decodeAt(input, pos+w)
		for i := range clist.dense {
			t := &clist.dense[i]
			inst := &p.insts[t.pc]
			if inst.Op == syntax.InstMatch {
				m.match, m.matched = t.caps, true
				break // the threads after this one have lower priority
			}
			if r >= 0 && matchRune(inst, r) {
				c := t.caps
				m.add(p, nlist, inst.Out, pos+w, &c, r, r2)
			}
		}
		if pos >= len(input) {
			break
		}
		pos += w
		prev, r, w = r, r2, w2
		clist, nlist = nlist, clist
		nlist.reset()
	}
	return m.matched
}

// mayStart is a quick check that input can hold a match: an anchored
// program's literal start begins it, an unanchored one's is in it.
func (p *program) mayStart(input []byte) bool {
	if p.anchored {
		return bytes.HasPrefix(input, p.prefix)
	}
	return len(p.prefix) == 0 || bytes.Contains(input, p.prefix)
}

// add enters pc at input position pos, between the runes before and after
// (-1 at either end), with capture positions c, following the
// instructions that consume nothing, depth first in priority order. c is
// the caller's copy: add changes it and puts it back.
func (m *machine) add(p *program, l *threadList, pc uint32, pos int, c *caps, before, after rune) {
	stack := append(m.stack[:0], frame{pc: pc})
	for len(stack) > 0 {
		f := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if f.restore {
			c[f.slot] = f.val
			continue
		}
		if !l.enter(f.pc) {
			continue
		}
		inst := &p.insts[f.pc]
		switch inst.Op {
		case syntax.InstAlt, syntax.InstAltMatch:
			stack = append(stack, frame{pc: inst.Arg}, frame{pc: inst.Out})
		case syntax.InstNop:
			stack = append(stack, frame{pc: inst.Out})
		case syntax.InstEmptyWidth:
			if syntax.EmptyOp(inst.Arg)&^syntax.EmptyOpContext(before, after) == 0 {
				stack = append(stack, frame{pc: inst.Out})
			}
		case syntax.InstCapture:
			if s := p.slot(inst.Arg); s >= 0 {
				stack = append(stack, frame{restore: true, slot: s, val: c[s]})
				c[s] = int32(pos)
			}
			stack = append(stack, frame{pc: inst.Out})
		default:
			if consumes(inst.Op) {
				// Written in place rather than appended as a literal
				// built on the stack and copied. There is room: dense
				// has the program's size and each pc enters once.
				n := len(l.dense)
				l.dense = l.dense[:n+1]
				t := &l.dense[n]
				t.pc, t.caps = f.pc, *c
			}
		}
	}
	m.stack = stack
}

// consumes reports whether an instruction waits for a rune (or is the
// match): a thread, not a step of add.
func consumes(op syntax.InstOp) bool {
	return op == syntax.InstMatch || op >= syntax.InstRune
}

func matchRune(inst *syntax.Inst, r rune) bool {
	switch inst.Op {
	case syntax.InstRune1:
		return r == inst.Rune[0]
	case syntax.InstRune:
		return inst.MatchRune(r)
	case syntax.InstRuneAny:
		return true
	case syntax.InstRuneAnyNotNL:
		return r != '\n'
	}
	return false
}

// decodeAt is the rune at b[i:] and its width, as Go's regexp reads bytes
// (an invalid byte is U+FFFD, one byte wide); -1 at the end.
func decodeAt(b []byte, i int) (rune, int) {
	if i >= len(b) {
		return -1, 0
	}
	if c := b[i]; c < utf8.RuneSelf {
		return rune(c), 1
	}
	return utf8.DecodeRune(b[i:])
}
