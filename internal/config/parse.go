package config

import (
	"cmp"
	"fmt"
	"github.com/gonfct/gonfct/pkg/cttimeout"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/gonfct/gonfct/pkg/cthelper"
	"github.com/gonfct/gonfct/pkg/cthelper/pattern"
	"golang.org/x/sys/unix"
)

// parser walks the token stream of one file, keyword by keyword, the way
// conntrackd's grammar does.
type parser struct {
	reg  *cthelper.Registry
	toks []token
	i    int
	cfg  *Config
	// depth counts the '{' consumed and not yet closed, for resync.
	depth int
	errs  ErrorList
	nerr  int // mistakes found, also those past maxErrors
}

func (p *parser) next() token {
	t := p.toks[p.i]
	switch t.kind {
	case tokEOF:
		return t
	case tokOpen:
		p.depth++
	case tokClose:
		p.depth--
	}
	p.i++
	return t
}

func (p *parser) peek() token { return p.toks[p.i] }

// The sections of a conntrackd.conf; only Helper concerns gonfct.
var skippedSections = []string{"General", "Sync", "Stats"}

func (p *parser) file() error {
	sections := append([]string{"Helper"}, skippedSections...)
	for {
		t := p.next()
		var err error
		switch {
		case t.kind == tokEOF:
			return nil
		case t.kind != tokWord:
			err = errorf(t.pos, "unexpected %s: a section (Helper, General, Sync or Stats) must come first", t)
		case t.text == "Helper" && !t.quoted:
			if err = p.expectOpen("Helper"); err == nil {
				err = p.helperSection()
			}
		case contains(skippedSections, t.text) && !t.quoted:
			if err = p.expectOpen(t.text); err == nil {
				if err = p.skipBlock(t); err == nil {
					p.cfg.Notices = append(p.cfg.Notices, fmt.Sprintf("%s: %s section ignored: gonfct reads only the Helper section", t.pos, t.text))
				}
			}
		default:
			err = p.unknown(t, "section", sections)
		}
		if err != nil {
			p.recover(err, 0, sections)
		}
	}
}

// unknown explains a word that is not a keyword where one was expected,
// pointing out a case mistake.
func (p *parser) unknown(t token, what string, keywords []string) error {
	for _, k := range keywords {
		if strings.EqualFold(k, t.text) {
			return errorf(t.pos, "unknown %s %q: keywords are case-sensitive, write %s", what, t.text, k)
		}
	}
	return errorf(t.pos, "unknown %s %s: expected %s", what, t, strings.Join(keywords, ", "))
}

// expectOpen consumes a '{', or reports what stands there instead and
// leaves it for resync.
func (p *parser) expectOpen(after string) error {
	if t := p.peek(); t.kind != tokOpen {
		return errorf(t.pos, "expected '{' after %s, got %s", after, t)
	}
	p.next()
	return nil
}

// skipBlock skips a section gonfct does not read, up to its matching '}'.
func (p *parser) skipBlock(open token) error {
	depth := 1
	for depth > 0 {
		t := p.next()
		switch t.kind {
		case tokOpen:
			depth++
		case tokClose:
			depth--
		case tokEOF:
			return errorf(t.pos, "missing '}' to close %s at %s", open.text, open.pos)
		}
	}
	return nil
}

// word reads the argument of keyword kw.
func (p *parser) word(kw token, what string) (token, error) {
	t := p.peek()
	if t.kind != tokWord {
		// A brace stays for resync: it opens or closes a block.
		return t, errorf(t.pos, "%s needs %s, got %s", kw.text, what, t)
	}
	return p.next(), nil
}

func (p *parser) number(kw token, max uint64) (uint32, token, error) {
	t, err := p.word(kw, "a number")
	if err != nil {
		return 0, t, err
	}
	n, err := parseUint(t.text, max)
	if err != nil {
		return 0, t, valueErrorf(t.pos, "%s %s", kw.text, err)
	}
	return uint32(n), t, nil
}

// duration reads the argument of kw as a duration: seconds, or 300s, 5m,
// 1h as everywhere in gonfct (cttimeout.ParseSeconds).
func (p *parser) duration(kw token) (uint32, error) {
	t, err := p.word(kw, "a duration")
	if err != nil {
		return 0, err
	}
	n, err := cttimeout.ParseSeconds(t.text)
	if err != nil {
		return 0, valueErrorf(t.pos, "%s %s", kw.text, durationError(t.text))
	}
	return n, nil
}

// durationError says what a duration looks like.
func durationError(s string) string {
	return fmt.Sprintf("%q is not a duration: want seconds (300) or with units (300s, 5m, 1h30m), at most %d s", s, cttimeout.MaxSeconds)
}

func parseUint(s string, max uint64) (uint64, error) {
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil || n > max {
		return 0, fmt.Errorf("%q is not a number from 0 to %d", s, max)
	}
	return n, nil
}

func parseBool(s string) (bool, error) {
	switch strings.ToLower(s) {
	case "yes", "on":
		return true, nil
	case "no", "off":
		return false, nil
	}
	return false, fmt.Errorf("%q is not yes, no, on or off", s)
}

var helperKeywords = []string{"Type", "Setup", "Netns"}

// helperSection reads the Helper section after its '{'. A mistake is
// recorded and reading goes on at the next keyword.
func (p *parser) helperSection() error {
	depth := p.depth
	for {
		t := p.next()
		var err error
		switch {
		case t.kind == tokClose:
			return nil
		case t.kind == tokEOF:
			return errorf(t.pos, "missing '}' to close the Helper section")
		case t.kind != tokWord:
			err = errorf(t.pos, "unexpected %s in the Helper section: expected Type, Setup or Netns", t)
		case t.text == "Setup":
			var v token
			if v, err = p.word(t, "yes or no"); err == nil {
				var b bool
				if b, err = parseBool(v.text); err != nil {
					err = valueErrorf(v.pos, "Setup %s", err)
				}
				p.cfg.Setup, p.cfg.HasSetup = b, true
			}
		case t.text == "Netns":
			var v token
			if v, err = p.netns(t, p.cfg.Netns, p.cfg.NetnsPos); err == nil {
				p.cfg.Netns, p.cfg.NetnsPos = append(p.cfg.Netns, v.text), append(p.cfg.NetnsPos, v.pos)
			}
		case t.text == "Type":
			var h Helper
			if h, err = p.typeBlock(t); err == nil {
				err = p.cfg.Add(h)
			}
		default:
			err = p.unknown(t, "keyword", helperKeywords)
		}
		if err != nil && p.recover(err, depth, helperKeywords) {
			return nil
		}
	}
}

// typeBlock reads "Type NAME FAMILY PROTO { ... }" after Type.
func (p *parser) typeBlock(kw token) (Helper, error) {
	var h Helper
	name, err := p.word(kw, "a helper name, family and protocol (Type ftp inet tcp)")
	if err != nil {
		return h, err
	}
	fam, err := p.word(kw, "a family, inet or inet6, after the name")
	if err != nil {
		return h, err
	}
	proto, err := p.word(kw, "a protocol, tcp or udp, after the family")
	if err != nil {
		return h, err
	}
	if err := p.expectOpen("Type " + name.text + " " + fam.text + " " + proto.text); err != nil {
		return h, err
	}
	h.Pos = kw.pos
	inner, before := p.depth, p.nerr
	var bad, unknown *Error
	h, unknown, bad = newHelper(p.reg, h.Pos, name.text, name.pos, fam.text, fam.pos, proto.text, proto.pos)
	// A wrong name, family or protocol is reported; the block is read on
	// for the mistakes it holds too.
	p.fail(bad)

	seen := map[string]Position{}
	once := func(t token) error {
		if first, dup := seen[t.text]; dup {
			return valueErrorf(t.pos, "%s is given twice in this Type block (first at %s): keep one", t.text, first)
		}
		seen[t.text] = t.pos
		return nil
	}
	optPos := map[string]Position{}
	var netnsPos []Position
	for {
		t := p.next()
		var err error
		switch {
		case t.kind == tokClose:
			if bad == nil {
				if len(h.Patterns) > 0 {
					setPatternSpec(&h)
				} else {
					p.fail(unknown)
				}
				if p.nerr == before {
					p.fail(checkOptions(&h, optPos))
				}
			}
			if p.nerr > before {
				return h, errReported
			}
			return h, nil
		case t.kind == tokEOF:
			return h, errorf(t.pos, "missing '}' to close Type %s at %s", h.Name, kw.pos)
		case t.kind != tokWord:
			err = errorf(t.pos, "unexpected %s in Type %s: expected QueueNum, QueueLen, Policy, Option, Netns or Pattern", t, h.Name)
		case t.text == "Pattern":
			if unknown == nil && bad == nil {
				err = errorf(t.pos, "helper %s is built in: a Pattern helper needs a name of its own (Type my-%s ...)", h.Name, h.Name)
				break
			}
			var r pattern.Rule
			if r, err = p.patternBlock(t); err == nil {
				h.Patterns = append(h.Patterns, r)
			}
		case t.text == "QueueNum":
			// The value first: a keyword given twice is then a mistake in
			// a value, and reading goes on right after it.
			if h.QueueNum, _, err = p.number(t, 65535); err == nil {
				err = once(t)
			}
		case t.text == "QueueLen":
			if h.QueueLen, _, err = p.number(t, math.MaxUint32); err == nil {
				err = once(t)
			}
		case t.text == "Policy" && bad != nil:
			// No helper to check it against: read over it.
			var name token
			if name, err = p.word(t, "a policy name"); err == nil {
				if err = p.expectOpen("Policy " + name.text); err == nil {
					err = p.skipBlock(name)
				}
			}
		case t.text == "Policy":
			err = p.policyBlock(&h, t, seen)
		case t.text == "Option":
			err = p.option(&h, t, optPos)
		case t.text == "Netns":
			var v token
			if v, err = p.netns(t, h.Netns, netnsPos); err == nil {
				h.Netns, netnsPos = append(h.Netns, v.text), append(netnsPos, v.pos)
			}
		default:
			err = p.unknown(t, "keyword", typeKeywords)
		}
		if err != nil && p.recover(err, inner, typeKeywords) {
			return h, errReported
		}
	}
}

var typeKeywords = []string{"QueueNum", "QueueLen", "Policy", "Option", "Netns", "Pattern"}

// option reads "Option KEY VALUE" after Option.
func (p *parser) option(h *Helper, kw token, optPos map[string]Position) error {
	key, err := p.word(kw, "a name and a value (Option loose yes)")
	if err != nil {
		return err
	}
	val, err := p.word(kw, "a value after the name (Option loose yes)")
	if err != nil {
		return err
	}
	if first, dup := optPos[key.text]; dup {
		return valueErrorf(key.pos, "option %s is given twice in Type %s (first at %s): keep one", key.text, h.Name, first)
	}
	if err := setOption(h, key.text, val.text); err != nil {
		return valueErrorf(key.pos, "%s", err)
	}
	optPos[key.text] = key.pos
	return nil
}

// netns reads the word after a Netns keyword, refusing one given before.
func (p *parser) netns(kw token, seen []string, pos []Position) (token, error) {
	v, err := p.word(kw, "a namespace: a name from `ip netns list`, a namespace file or a directory of them")
	if err != nil {
		return v, err
	}
	if i := slices.Index(seen, v.text); i >= 0 {
		return v, valueErrorf(v.pos, "Netns %s is given twice (first at %s): keep one", v.text, pos[i])
	}
	return v, nil
}

// policyBlock reads "Policy NAME { ExpectMax N ExpectTimeout N }" after
// Policy and sets the values it names over the helper's defaults.
func (p *parser) policyBlock(h *Helper, kw token, seen map[string]Position) error {
	name, err := p.word(kw, "a policy name")
	if err != nil {
		return err
	}
	if err := p.expectOpen("Policy " + name.text); err != nil {
		return err
	}
	depth, before := p.depth, p.nerr
	pol, err := findPolicy(h, name.text)
	if err != nil {
		p.recover(errorf(name.pos, "%s", err), depth, nil)
		return errReported
	}
	key := "Policy " + name.text
	if first, dup := seen[key]; dup {
		p.recover(errorf(kw.pos, "%s is given twice in Type %s (first at %s): keep one", key, h.Name, first), depth, nil)
		return errReported
	}
	seen[key] = kw.pos
	var setMax, setTimeout bool
	for {
		t := p.next()
		var err error
		switch {
		case t.kind == tokClose:
			if !setMax && !setTimeout && p.nerr == before {
				p.fail(errorf(t.pos, "Policy %s is empty: set ExpectMax and/or ExpectTimeout, or remove it", name.text))
			}
			if p.nerr > before {
				return errReported
			}
			return nil
		case t.kind == tokEOF:
			return errorf(t.pos, "missing '}' to close Policy %s at %s", name.text, kw.pos)
		case t.kind != tokWord:
			err = errorf(t.pos, "unexpected %s in Policy %s: expected ExpectMax or ExpectTimeout", t, name.text)
		case t.text == "ExpectMax":
			if pol.ExpectMax, _, err = p.number(t, cthelper.MaxExpectLimit); err == nil && setMax {
				err = valueErrorf(t.pos, "ExpectMax is given twice in Policy %s: keep one", name.text)
			}
			setMax = true
		case t.text == "ExpectTimeout":
			if pol.ExpectTimeout, err = p.duration(t); err == nil && setTimeout {
				err = valueErrorf(t.pos, "ExpectTimeout is given twice in Policy %s: keep one", name.text)
			}
			setTimeout = true
		default:
			err = p.unknown(t, "keyword", policyKeywords)
		}
		if err != nil && p.recover(err, depth, policyKeywords) {
			return errReported
		}
	}
}

var policyKeywords = []string{"ExpectMax", "ExpectTimeout"}

// newHelper checks a helper's name, family and protocol against the
// built-in table and fills in its defaults. Each error is placed on the
// word that is wrong. A name that is not built in is not an error yet
// (unknown says what to report): it may name a pattern helper, whose
// Pattern blocks follow.
func newHelper(reg *cthelper.Registry, at Position, name string, namePos Position, fam string, famPos Position, proto string, protoPos Position) (h Helper, unknown, bad *Error) {
	h = Helper{Name: name, Pos: at, Options: cthelper.Options{}}
	if err := cthelper.ValidateName("helper", name); err != nil {
		return h, nil, errorf(namePos, "%s", err)
	}
	spec, known := reg.Lookup(name)
	if !known {
		unknown = errorf(namePos, "unknown helper %q: gonfct has %s; a helper of your own needs a pattern (Pattern in its Type block, pattern= in --helper)", name, strings.Join(reg.Names(), ", "))
	} else if spec.NewParser == nil {
		return h, nil, errorf(namePos, "helper %q has no parser in this build of gonfct: it cannot be run here (use conntrackd for it, or remove it)", name)
	}
	switch fam {
	case "inet":
		h.Family = unix.AF_INET
	case "inet6":
		h.Family = unix.AF_INET6
	default:
		return h, nil, errorf(famPos, "unknown family %q: write inet or inet6", fam)
	}
	switch proto {
	case "tcp":
		h.Proto = unix.IPPROTO_TCP
	case "udp":
		h.Proto = unix.IPPROTO_UDP
	default:
		return h, nil, errorf(protoPos, "unknown protocol %q: write tcp or udp", proto)
	}
	if !known {
		return h, unknown, nil
	}
	if !contains(spec.Families, h.Family) {
		return h, nil, errorf(famPos, "helper %s does not work over %s: it supports %s", name, fam, familyList(spec.Families))
	}
	if !contains(spec.Protos, h.Proto) {
		return h, nil, errorf(protoPos, "helper %s does not work over %s: it supports %s", name, proto, protoList(spec.Protos))
	}
	h.Spec = spec
	h.PrivLen = spec.PrivLen
	h.Policies = append([]cthelper.Policy(nil), spec.Policies...)
	return h, nil, nil
}

func findPolicy(h *Helper, name string) (*cthelper.Policy, error) {
	if h.Spec == nil {
		return patternPolicy(h, name)
	}
	names := make([]string, len(h.Policies))
	for i := range h.Policies {
		if h.Policies[i].Name == name {
			return &h.Policies[i], nil
		}
		names[i] = h.Policies[i].Name
	}
	if err := cthelper.ValidateName("policy", name); err != nil {
		return nil, err
	}
	return nil, fmt.Errorf("helper %s has no policy %q: its policies are %s", h.Name, name, strings.Join(names, ", "))
}

// setOption records a parser option; the parser itself judges the key and
// value (checkOptions).
func setOption(h *Helper, key, val string) error {
	if key == "" {
		return fmt.Errorf("empty option name")
	}
	h.Options[key] = val
	return nil
}

// checkOptions builds the parser once so that a bad option is refused at
// load; when it fails, each option is tried alone to place the error on
// the culprit.
func checkOptions(h *Helper, optPos map[string]Position) *Error {
	_, err := h.Spec.NewParser(h.Options)
	if err == nil {
		return nil
	}
	keys := make([]string, 0, len(optPos))
	for k := range optPos {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int {
		pa, pb := optPos[a], optPos[b]
		return cmp.Or(cmp.Compare(pa.Line, pb.Line), cmp.Compare(pa.Col, pb.Col))
	})
	for _, k := range keys {
		if _, err1 := h.Spec.NewParser(cthelper.Options{k: h.Options[k]}); err1 != nil {
			return errorf(optPos[k], "%s", helperMsg(h.Name, err1))
		}
	}
	return errorf(h.Pos, "%s", helperMsg(h.Name, err))
}

// helperMsg names the helper in a parser's error, unless it does already.
func helperMsg(name string, err error) string {
	msg := err.Error()
	if strings.HasPrefix(msg, "helper "+name+": ") {
		return msg
	}
	return "helper " + name + ": " + msg
}

func contains[T comparable](s []T, v T) bool { return slices.Contains(s, v) }

func familyList(fs []uint8) string {
	var s []string
	for _, f := range fs {
		s = append(s, familyName(f))
	}
	return strings.Join(s, " and ")
}

func protoList(ps []uint8) string {
	var s []string
	for _, p := range ps {
		s = append(s, protoName(p))
	}
	return strings.Join(s, " and ")
}
