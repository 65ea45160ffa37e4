package config

import (
	"errors"
	"fmt"

	"github.com/gonfct/gonfct/pkg/cthelper"
	"github.com/gonfct/gonfct/pkg/cthelper/pattern"
	"golang.org/x/sys/unix"
)

// A Type block with Pattern blocks is a helper of the admin's own, run by
// the pattern parser:
//
//	Type NAME inet|inet6 tcp|udp {
//		QueueNum N
//		Policy NAME { ExpectMax N  ExpectTimeout N }   # one; default NAME 4 300
//		Option loose yes|no
//		Option low-ports yes|no
//		Pattern "REGEX" {            # one or more; the block is optional
//			Direction original|reply|both   # default both
//			Expect tcp|udp                  # default: the Type's protocol
//			Lines yes|no                    # default yes
//		}
//	}

// The policy of a pattern helper without a Policy block.
var patternPolicyDefault = cthelper.Policy{ExpectMax: 4, ExpectTimeout: 300}

// patternBlock reads `Pattern "REGEX" [{ ... }]` after Pattern and
// compiles it, placing a pattern error on the character it is about.
func (p *parser) patternBlock(kw token) (pattern.Rule, error) {
	expr, err := p.word(kw, `a regular expression in double quotes (Pattern "^MATCH (?P<port>[0-9]+)$")`)
	if err != nil {
		return pattern.Rule{}, err
	}
	r := pattern.Rule{Expr: expr.text}
	if p.peek().kind == tokOpen {
		p.next()
		if err := p.patternSettings(kw, &r); err != nil {
			return r, err
		}
	}
	if err := pattern.Compile(r); err != nil {
		return r, errorf(exprPos(expr, err), "Pattern: %s", err)
	}
	return r, nil
}

// exprPos is where in the pattern's token a compile error points.
func exprPos(expr token, err error) Position {
	pos := expr.pos
	var se *pattern.SyntaxError
	if errors.As(err, &se) && se.Offset >= 0 {
		pos.Col += se.Offset
		if expr.quoted {
			pos.Col++
		}
	}
	return pos
}

// patternSettings reads a Pattern block's body up to its '}'.
func (p *parser) patternSettings(kw token, r *pattern.Rule) error {
	seen := map[string]Position{}
	for {
		t := p.next()
		switch {
		case t.kind == tokClose:
			return nil
		case t.kind == tokEOF:
			return errorf(t.pos, "missing '}' to close the Pattern at %s", kw.pos)
		case t.kind != tokWord:
			return errorf(t.pos, "unexpected %s in a Pattern block: expected Direction, Expect or Lines", t)
		case t.text != "Direction" && t.text != "Expect" && t.text != "Lines":
			return p.unknown(t, "keyword", []string{"Direction", "Expect", "Lines"})
		}
		if first, dup := seen[t.text]; dup {
			return errorf(t.pos, "%s is given twice in this Pattern (first at %s): keep one", t.text, first)
		}
		seen[t.text] = t.pos
		v, err := p.word(t, "a value")
		if err != nil {
			return err
		}
		if err := setPatternSetting(r, t.text, v.text); err != nil {
			return errorf(v.pos, "%s %s", t.text, err)
		}
	}
}

// setPatternSetting applies Direction, Expect or Lines (the flag's
// direction=, expect=, lines=).
func setPatternSetting(r *pattern.Rule, key, val string) error {
	switch key {
	case "Direction", "direction":
		d, err := pattern.ParseDir(val)
		r.Dir = d
		return err
	case "Expect", "expect":
		switch val {
		case "tcp":
			r.Expect = unix.IPPROTO_TCP
		case "udp":
			r.Expect = unix.IPPROTO_UDP
		default:
			return fmt.Errorf("%q: the expected connection is tcp or udp", val)
		}
	case "Lines", "lines":
		lines, err := parseBool(val)
		r.Whole = !lines
		return err
	}
	return nil
}

// patternPolicy is the policy NAME of a pattern helper: its one policy,
// made on first use with the defaults.
func patternPolicy(h *Helper, name string) (*cthelper.Policy, error) {
	if err := cthelper.ValidateName("policy", name); err != nil {
		return nil, err
	}
	if len(h.Policies) == 0 {
		pol := patternPolicyDefault
		pol.Name = name
		h.Policies = append(h.Policies, pol)
	}
	if h.Policies[0].Name != name {
		return nil, fmt.Errorf("a pattern helper has one expectation policy, here %s: give %q's values there", h.Policies[0].Name, name)
	}
	return &h.Policies[0], nil
}

// setPatternSpec makes h, whose Pattern blocks are read, a helper of its
// own: its policy, private data and the pattern parser.
func setPatternSpec(h *Helper) {
	if len(h.Policies) == 0 {
		pol := patternPolicyDefault
		pol.Name = h.Name
		h.Policies = []cthelper.Policy{pol}
	}
	h.PrivLen = pattern.PrivLenFor(h.Proto, h.Patterns)
	name, rules := h.Name, h.Patterns
	h.Spec = &cthelper.Spec{
		Name: name, Protos: []uint8{h.Proto}, Families: []uint8{h.Family},
		PrivLen: h.PrivLen, Policies: h.Policies,
		Doc: fmt.Sprintf("pattern helper declared at %s", h.Pos),
		NewParser: func(o cthelper.Options) (cthelper.Parser, error) {
			return pattern.New(name, rules, o)
		},
	}
}
