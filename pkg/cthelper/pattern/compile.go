package pattern

import (
	"errors"
	"fmt"
	"regexp/syntax"
	"strings"
	"unicode/utf8"
)

// The named groups a pattern announces with.
const (
	GroupAddr   = "addr"    // IPv4 (dots, or commas as FTP writes it) or IPv6 text
	GroupPort   = "port"    // decimal, 1 to 65535
	GroupPortHi = "port_hi" // with port_lo: two decimal bytes, FTP style
	GroupPortLo = "port_lo"
)

// Capture slots of a thread (see nslots): start and end of each group.
const (
	slotAddr = 0
	slotPort = 2 // port, or port_hi
	slotLo   = 4 // port_lo
)

// maxInsts bounds a compiled pattern: the matcher's scratch grows with it
// (about 60 bytes per instruction). RE2 syntax already caps repetitions
// at 1000; a line protocol's pattern is a few dozen instructions.
const maxInsts = 4000

// program is one compiled pattern.
type program struct {
	insts    []syntax.Inst
	start    int
	anchored bool   // every match starts at the input's start (^ or \A)
	prefix   []byte // literal text every match starts with, if any
	// An anchored program's literal start is not stepped through: the
	// matcher starts at afterPrefix with prefixCaps (the groups opened
	// within it).
	afterPrefix uint32
	prefixCaps  caps
	// slots maps a capture instruction's Arg (2*group, 2*group+1) to a
	// thread's capture slot; -1 for groups gonfct does not read.
	slots  []int8
	hiLo   bool // port_hi and port_lo instead of port
	hasAdr bool
}

func (p *program) slot(arg uint32) int8 {
	if int(arg) < len(p.slots) {
		return p.slots[arg]
	}
	return -1
}

// SyntaxError is a pattern that cannot be used; Offset is the byte in the
// pattern where the problem is, or -1 when it is the whole pattern.
type SyntaxError struct {
	Offset int
	Msg    string
}

func (e *SyntaxError) Error() string { return e.Msg }

// compile parses expr as RE2 (Perl flags, as Go's regexp.Compile) and
// checks the groups it names.
func compile(expr string) (*program, error) {
	re, err := syntax.Parse(expr, syntax.Perl)
	if err != nil {
		var se *syntax.Error
		if errors.As(err, &se) {
			off := -1
			if se.Expr != "" {
				off = strings.Index(expr, se.Expr)
			}
			return nil, &SyntaxError{Offset: off, Msg: fmt.Sprintf("bad pattern: %s: %q", se.Code, se.Expr)}
		}
		return nil, &SyntaxError{Offset: -1, Msg: "bad pattern: " + err.Error()}
	}
	names := re.CapNames()
	p := &program{slots: make([]int8, 2*len(names))}
	for i := range p.slots {
		p.slots[i] = -1
	}
	seen := map[string]bool{}
	for g, name := range names {
		if name == "" {
			continue
		}
		var slot int8
		switch name {
		case GroupAddr:
			slot, p.hasAdr = slotAddr, true
		case GroupPort, GroupPortHi:
			slot = slotPort
		case GroupPortLo:
			slot = slotLo
		default:
			return nil, &SyntaxError{Offset: groupOffset(expr, name),
				Msg: fmt.Sprintf("unknown group name %q: gonfct reads %s, %s, or %s and %s (write (?:...) for a group it should not read)",
					name, GroupAddr, GroupPort, GroupPortHi, GroupPortLo)}
		}
		if seen[name] {
			return nil, &SyntaxError{Offset: groupOffset(expr, name), Msg: fmt.Sprintf("group %s is named twice: a match gives one of each", name)}
		}
		seen[name] = true
		p.slots[2*g], p.slots[2*g+1] = slot, slot+1
	}
	switch {
	case seen[GroupPort] && (seen[GroupPortHi] || seen[GroupPortLo]):
		return nil, &SyntaxError{Offset: groupOffset(expr, GroupPortHi, GroupPortLo), Msg: "the port is named twice: give port, or port_hi and port_lo, not both"}
	case seen[GroupPortHi] != seen[GroupPortLo]:
		return nil, &SyntaxError{Offset: groupOffset(expr, GroupPortHi, GroupPortLo), Msg: "port_hi and port_lo go together: name both bytes of the port"}
	case !seen[GroupPort] && !seen[GroupPortHi]:
		return nil, &SyntaxError{Offset: -1, Msg: "the pattern names no port: capture it as (?P<port>[0-9]+) (or port_hi and port_lo)"}
	}
	p.hiLo = seen[GroupPortHi]
	if err := p.build(re); err != nil {
		return nil, err
	}
	if !p.reaches(-1) {
		return nil, &SyntaxError{Offset: -1, Msg: "the pattern can never match"}
	}
	if p.reaches(slotPort) || (p.hiLo && p.reaches(slotLo)) {
		return nil, &SyntaxError{Offset: groupOffset(expr, GroupPort, GroupPortHi, GroupPortLo),
			Msg: "the pattern can match without its port: make the port group required (no ?, * or | that skips it)"}
	}
	return p, nil
}

// build compiles re for the matcher, p.slots already set.
func (p *program) build(re *syntax.Regexp) error {
	prog, err := syntax.Compile(re.Simplify())
	if err != nil {
		return &SyntaxError{Offset: -1, Msg: "bad pattern: " + err.Error()}
	}
	if len(prog.Inst) > maxInsts {
		return &SyntaxError{Offset: -1, Msg: fmt.Sprintf("pattern too large: %d instructions compiled, at most %d", len(prog.Inst), maxInsts)}
	}
	p.insts, p.start = prog.Inst, prog.Start
	cond := prog.StartCond()
	p.anchored = cond&syntax.EmptyBeginText != 0
	if prefix, _ := prog.Prefix(); !p.anchored {
		p.prefix = []byte(prefix)
	} else {
		p.anchoredPrefix()
	}
	return nil
}

// anchoredPrefix finds the literal text every match of an anchored
// program starts with, where the program is after it and which groups it
// opens on the way: a line that does not start with it is rejected
// without running the matcher (most lines of a protocol announce
// nothing), and one that does is matched from there.
func (p *program) anchoredPrefix() {
	p.prefixCaps = noCaps
	pc := uint32(p.start)
	for {
		inst := &p.insts[pc]
		switch {
		case inst.Op == syntax.InstNop:
		case inst.Op == syntax.InstCapture:
			if s := p.slot(inst.Arg); s >= 0 {
				p.prefixCaps[s] = int32(len(p.prefix))
			}
		case inst.Op == syntax.InstEmptyWidth && len(p.prefix) == 0 &&
			syntax.EmptyOp(inst.Arg)&^(syntax.EmptyBeginText|syntax.EmptyBeginLine) == 0:
		case inst.Op == syntax.InstRune1:
			p.prefix = utf8.AppendRune(p.prefix, inst.Rune[0])
		default:
			p.afterPrefix = pc
			return
		}
		pc = inst.Out
	}
}

// reaches reports whether a match is possible on a path that does not
// open the group of capture slot avoid (-1: any path). Zero-width
// assertions count as passable; character classes that are empty do not.
func (p *program) reaches(avoid int8) bool {
	seen := make([]bool, len(p.insts))
	stack := []uint32{uint32(p.start)}
	for len(stack) > 0 {
		pc := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if seen[pc] {
			continue
		}
		seen[pc] = true
		inst := &p.insts[pc]
		switch inst.Op {
		case syntax.InstMatch:
			return true
		case syntax.InstFail:
		case syntax.InstAlt, syntax.InstAltMatch:
			stack = append(stack, inst.Out, inst.Arg)
		case syntax.InstCapture:
			if avoid < 0 || p.slot(inst.Arg) != avoid {
				stack = append(stack, inst.Out)
			}
		case syntax.InstRune:
			if len(inst.Rune) > 0 {
				stack = append(stack, inst.Out)
			}
		default:
			stack = append(stack, inst.Out)
		}
	}
	return false
}

// groupOffset is where the first of the named groups is declared in expr.
func groupOffset(expr string, names ...string) int {
	for _, n := range names {
		for _, open := range []string{"(?P<" + n + ">", "(?<" + n + ">"} {
			if i := strings.Index(expr, open); i >= 0 {
				return i
			}
		}
	}
	return -1
}
