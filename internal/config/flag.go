package config

import (
	"fmt"
	"github.com/gonfct/gonfct/pkg/cttimeout"
	"math"
	"slices"
	"strings"

	"github.com/gonfct/gonfct/pkg/cthelper"
	"github.com/gonfct/gonfct/pkg/cthelper/builtin"
	"github.com/gonfct/gonfct/pkg/cthelper/pattern"
)

// HelperFlagSyntax is the --helper form, for usage texts.
const HelperFlagSyntax = "NAME:FAMILY:PROTO[:queue=N][:queuelen=N][:policy=NAME/MAX/TIMEOUT][:OPTION=VALUE][:pattern=REGEX]"

// ParseHelperFlag reads the command-line form of a Type block,
//
//	NAME:FAMILY:PROTO[:queue=N][:queuelen=N][:policy=NAME/MAX/TIMEOUT][:OPTION=VALUE][:pattern=REGEX]
//
// for example "ftp:inet:tcp:queue=3:policy=ftp/2/600:loose=yes". MAX or
// TIMEOUT may be left empty ("policy=ftp//600") to keep the default; policy
// may be given once per policy name. Any other KEY=VALUE is a parser option.
// It is checked like a file's Type block; errors name the column.
//
// pattern=REGEX makes a pattern helper of one Pattern block; it comes last
// and takes the rest of the flag (a pattern may contain ':'), and
// direction=, expect= and lines= before it are that Pattern's settings:
// "lobby:inet:tcp:queue=7:direction=reply:expect=udp:pattern=^MATCH (?P<port>[0-9]+)".
func ParseHelperFlag(s string) (Helper, error) {
	return ParseHelperFlagWith(builtin.Registry, s)
}

// ParseHelperFlagWith is ParseHelperFlag against another table of helpers.
func ParseHelperFlagWith(reg *cthelper.Registry, s string) (Helper, error) {
	file := "--helper " + s
	at := func(off int) Position { return Position{File: file, Col: off + 1} }
	var rule *pattern.Rule
	exprOff := -1
	if i := strings.Index(s, ":pattern="); i >= 0 {
		rule = &pattern.Rule{Expr: s[i+len(":pattern="):]}
		exprOff = i + len(":pattern=")
		s = s[:i]
	}

	type field struct {
		text string
		off  int
	}
	var fields []field
	for off := 0; ; {
		i := strings.IndexByte(s[off:], ':')
		if i < 0 {
			fields = append(fields, field{s[off:], off})
			break
		}
		fields = append(fields, field{s[off : off+i], off})
		off += i + 1
	}
	if len(fields) < 3 {
		return Helper{}, errorf(at(len(s)), "expected %s, for example ftp:inet:tcp:queue=1", HelperFlagSyntax)
	}
	h, unknown, bad := newHelper(reg, at(0), fields[0].text, at(fields[0].off), fields[1].text, at(fields[1].off), fields[2].text, at(fields[2].off))
	switch {
	case bad != nil:
		return h, bad
	case unknown != nil && rule == nil:
		return h, unknown
	case unknown == nil && rule != nil:
		return h, errorf(at(exprOff-len("pattern=")), "helper %s is built in: a pattern helper needs a name of its own (my-%s:...)", h.Name, h.Name)
	}
	seen := map[string]bool{}
	optPos := map[string]Position{}
	for _, f := range fields[3:] {
		key, val, ok := strings.Cut(f.text, "=")
		valAt := at(f.off + len(key) + 1)
		if !ok || key == "" {
			return h, errorf(at(f.off), "%q is not KEY=VALUE (queue=N, queuelen=N, policy=NAME/MAX/TIMEOUT or a parser option)", f.text)
		}
		if key != "policy" {
			if seen[key] {
				return h, errorf(at(f.off), "%s is given twice: keep one", key)
			}
			seen[key] = true
		}
		switch key {
		case "queue":
			n, err := parseUint(val, 65535)
			if err != nil {
				return h, errorf(valAt, "queue %s", err)
			}
			h.QueueNum = uint32(n)
		case "queuelen":
			n, err := parseUint(val, math.MaxUint32)
			if err != nil {
				return h, errorf(valAt, "queuelen %s", err)
			}
			h.QueueLen = uint32(n)
		case "policy":
			if err := flagPolicy(&h, val, valAt, seen); err != nil {
				return h, err
			}
		case "direction", "expect", "lines":
			if rule == nil {
				return h, errorf(at(f.off), "%s= is a pattern's setting: give pattern=REGEX last", key)
			}
			if err := setPatternSetting(rule, key, val); err != nil {
				return h, errorf(valAt, "%s %s", key, err)
			}
		default:
			if err := setOption(&h, key, val); err != nil {
				return h, errorf(at(f.off), "%s", err)
			}
			optPos[key] = at(f.off)
		}
	}
	if rule != nil {
		if err := pattern.Compile(*rule); err != nil {
			return h, errorf(exprPos(token{pos: at(exprOff)}, err), "pattern: %s", err)
		}
		h.Patterns = []pattern.Rule{*rule}
		setPatternSpec(&h)
	}
	if err := checkOptions(&h, optPos); err != nil {
		return h, err
	}
	return h, nil
}

// flagPolicy applies "NAME/MAX/TIMEOUT" (MAX or TIMEOUT may be empty).
func flagPolicy(h *Helper, val string, at Position, seen map[string]bool) *Error {
	parts := strings.Split(val, "/")
	if len(parts) < 2 || len(parts) > 3 {
		return errorf(at, "policy %q is not NAME/MAX/TIMEOUT (for example ftp/1/300)", val)
	}
	pol, err := findPolicy(h, parts[0])
	if err != nil {
		return errorf(at, "%s", err)
	}
	if seen["policy "+parts[0]] {
		return errorf(at, "policy %s is given twice: keep one", parts[0])
	}
	seen["policy "+parts[0]] = true
	col := at
	col.Col += len(parts[0]) + 1
	if parts[1] != "" {
		n, err := parseUint(parts[1], cthelper.MaxExpectLimit)
		if err != nil {
			return errorf(col, "policy %s: ExpectMax %s", parts[0], err)
		}
		pol.ExpectMax = uint32(n)
	}
	if len(parts) == 3 && parts[2] != "" {
		col.Col += len(parts[1]) + 1
		n, err := cttimeout.ParseSeconds(parts[2])
		if err != nil {
			return errorf(col, "policy %s: ExpectTimeout %s", parts[0], durationError(parts[2]))
		}
		pol.ExpectTimeout = n
	}
	if parts[1] == "" && (len(parts) == 2 || parts[2] == "") {
		return errorf(at, "policy %q sets nothing: give MAX and/or TIMEOUT (ftp/1/300)", val)
	}
	return nil
}

// String is the --helper form of h (options sorted), so a helper can be
// logged or shown the way it would be given.
func (h *Helper) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s:%s:%s:queue=%d", h.Name, familyName(h.Family), protoName(h.Proto), h.QueueNum)
	if h.QueueLen != 0 {
		fmt.Fprintf(&b, ":queuelen=%d", h.QueueLen)
	}
	for _, p := range h.Policies {
		fmt.Fprintf(&b, ":policy=%s/%d/%d", p.Name, p.ExpectMax, p.ExpectTimeout)
	}
	keys := make([]string, 0, len(h.Options))
	for k := range h.Options {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, ":%s=%s", k, h.Options[k])
	}
	for _, r := range h.Patterns {
		fmt.Fprintf(&b, ":direction=%s", r.Dir)
		if r.Expect != 0 {
			fmt.Fprintf(&b, ":expect=%s", protoName(r.Expect))
		}
		if r.Whole {
			b.WriteString(":lines=no")
		}
		fmt.Fprintf(&b, ":pattern=%s", r.Expr)
	}
	return b.String()
}
