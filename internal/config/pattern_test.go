package config

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/gonfct/gonfct/pkg/cthelper"
	"github.com/gonfct/gonfct/pkg/cthelper/pattern"
	"golang.org/x/sys/unix"
)

// The example: the docs/examples lobby protocol without Go.
const lobbyConf = `Helper {
	Type lobby inet tcp {
		QueueNum 7
		Policy lobby {
			ExpectMax 4
			ExpectTimeout 60
		}
		Pattern "^MATCH (?P<port>[0-9]+)\r?$" {
			Direction reply
			Expect udp
		}
	}
}`

func TestPatternHelper(t *testing.T) {
	cfg, err := parse(t, lobbyConf)
	if err != nil {
		t.Fatal(err)
	}
	h := cfg.Helpers[0]
	want := []pattern.Rule{{Expr: `^MATCH (?P<port>[0-9]+)\r?$`, Dir: pattern.DirReply, Expect: unix.IPPROTO_UDP}}
	if h.Name != "lobby" || h.QueueNum != 7 || h.PrivLen != pattern.PrivLen || !reflect.DeepEqual(h.Patterns, want) ||
		!reflect.DeepEqual(h.Policies, []cthelper.Policy{{Name: "lobby", ExpectMax: 4, ExpectTimeout: 60}}) {
		t.Fatalf("helper %+v", h)
	}
	if o := h.Object(); o.Validate() != nil || o.PrivLen != pattern.PrivLen || o.Family != unix.AF_INET || o.Proto != unix.IPPROTO_TCP {
		t.Errorf("object %+v", o)
	}
	p, err := h.NewParser()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := p.(cthelper.PortRenumberer); !ok {
		t.Error("the pattern parser does not renumber ports")
	}
	if got := h.String(); got != `lobby:inet:tcp:queue=7:policy=lobby/4/60:direction=reply:expect=udp:pattern=^MATCH (?P<port>[0-9]+)\r?$` {
		t.Errorf("String() = %q", got)
	}
}

func TestPatternHelperDefaults(t *testing.T) {
	cfg, err := parse(t, `Helper { Type game inet6 udp { QueueNum 3 Option loose yes
		Pattern "PORT=(?P<port>\d+)" Pattern "^DATA (?P<addr>\S+) (?P<port>\d+)" { Lines no Direction original } } }`)
	if err != nil {
		t.Fatal(err)
	}
	h := cfg.Helpers[0]
	want := []pattern.Rule{{Expr: `PORT=(?P<port>\d+)`}, {Expr: `^DATA (?P<addr>\S+) (?P<port>\d+)`, Whole: true, Dir: pattern.DirOriginal}}
	if !reflect.DeepEqual(h.Patterns, want) || h.Options["loose"] != "yes" || h.PrivLen != 0 ||
		!reflect.DeepEqual(h.Policies, []cthelper.Policy{{Name: "game", ExpectMax: 4, ExpectTimeout: 300}}) {
		t.Errorf("helper %+v", h)
	}
	// A Policy that sets one value keeps the default of the other.
	cfg, err = parse(t, `Helper { Type game inet udp { Policy p { ExpectTimeout 9 } Pattern "(?P<port>\d+)" } }`)
	if err != nil || !reflect.DeepEqual(cfg.Helpers[0].Policies, []cthelper.Policy{{Name: "p", ExpectMax: 4, ExpectTimeout: 9}}) {
		t.Errorf("policy %+v, %v", cfg.Helpers, err)
	}
}

func TestPatternErrors(t *testing.T) {
	typ := func(body string) string { return "Helper { Type game inet tcp { " + body + " } }" }
	for _, tc := range []struct{ src, want string }{
		{typ(`Pattern "^MATCH (?P<port>[0-9]+"`), `t.conf:1:40: Pattern: bad pattern: missing closing ): "^MATCH (?P<port>[0-9]+"`},
		{typ(`Pattern "^MATCH ([0-9]+)$"`), `t.conf:1:39: Pattern: the pattern names no port`},
		{typ(`Pattern "^MATCH (?P<prot>[0-9]+)"`), `t.conf:1:47: Pattern: unknown group name "prot"`},
		{typ(`Pattern "x\q(?P<port>1)"`), `t.conf:1:41: Pattern: bad pattern: invalid escape sequence: "\\q"`},
		{typ(`Pattern "x(?P<port>1)?"`), `t.conf:1:41: Pattern: the pattern can match without its port`},
		{typ(`Pattern`), `t.conf:1:39: Pattern needs a regular expression in double quotes`},
		{typ(`Pattern "(?P<port>1)" { Direction sideways }`), `t.conf:1:65: Direction "sideways" is not a direction: write original, reply or both`},
		{typ(`Pattern "(?P<port>1)" { Direction reply Direction both }`), `t.conf:1:71: Direction is given twice in this Pattern (first at t.conf:1:55)`},
		{typ(`Pattern "(?P<port>1)" { Expect icmp }`), `t.conf:1:62: Expect "icmp": the expected connection is tcp or udp`},
		{typ(`Pattern "(?P<port>1)" { Lines maybe }`), `t.conf:1:61: Lines "maybe" is not yes, no, on or off`},
		{typ(`Pattern "(?P<port>1)" { direction reply }`), `unknown keyword "direction": keywords are case-sensitive, write Direction`},
		{typ(`Pattern "(?P<port>1)" { Direction`), `t.conf:1:65: Direction needs a value, got '}'`},
		{"Helper { Type game inet tcp { Pattern \"(?P<port>1)\" { ", `t.conf:1:55: missing '}' to close the Pattern at t.conf:1:31`},
		{typ(`Pattern "(?P<port>1)" Policy a { ExpectMax 1 } Policy b { ExpectMax 2 }`), `t.conf:1:85: a pattern helper has one expectation policy, here a`},
		{typ(`Pattern "(?P<port>1)" Option lose yes`), `t.conf:1:60: helper game: unknown option "lose": known options are loose, low-ports`},
		{typ(`QueueNum 1`), `t.conf:1:15: unknown helper "game": gonfct has amanda`},
		{"Helper { Type ftp inet tcp { Pattern \"(?P<port>1)\" } }", `t.conf:1:30: helper ftp is built in: a Pattern helper needs a name of its own`},
	} {
		_, err := parse(t, tc.src)
		var ce *Error
		if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.As(err, &ce) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s:\n got %v\nwant %q", tc.src, err, tc.want)
		}
	}
}

func TestPatternFlag(t *testing.T) {
	reg := testRegistry()
	h, err := ParseHelperFlagWith(reg, `lobby:inet:tcp:queue=7:policy=lobby/4/60:direction=reply:expect=udp:pattern=^MATCH (?P<port>[0-9]+)\r?$`)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := ParseWith(reg, "f", strings.NewReader(lobbyConf))
	if err != nil {
		t.Fatal(err)
	}
	f := cfg.Helpers[0]
	h.Pos, f.Pos = Position{}, Position{}
	h.Spec, f.Spec = nil, nil // closures: compared through the fields they close over
	if !reflect.DeepEqual(h, f) {
		t.Errorf("flag %+v\nfile %+v", h, f)
	}
	// A pattern may hold ':' (the flag's separator): it runs to the end.
	h, err = ParseHelperFlagWith(reg, `x:inet6:udp:loose=yes:pattern=^(?:HOST=(?P<addr>[0-9a-f:]+) )?PORT=(?P<port>\d+)`)
	if err != nil || h.Patterns[0].Expr != `^(?:HOST=(?P<addr>[0-9a-f:]+) )?PORT=(?P<port>\d+)` || h.Options["loose"] != "yes" {
		t.Errorf("%+v, %v", h, err)
	}
	for _, tc := range []struct{ in, want string }{
		{"x:inet:tcp:pattern=(?P<port>1", `(column 20): pattern: bad pattern: missing closing )`},
		{"x:inet:tcp:pattern=a(?P<prt>1)", `(column 21): pattern: unknown group name "prt"`},
		{"x:inet:tcp:direction=up:pattern=(?P<port>1)", `(column 22): direction "up" is not a direction`},
		{"ftp:inet:tcp:direction=reply", `(column 14): direction= is a pattern's setting: give pattern=REGEX last`},
		{"x:inet:tcp", `(column 1): unknown helper "x"`},
		{"ftp:inet:tcp:pattern=(?P<port>1)", `(column 14): helper ftp is built in`},
		{"x:inet:tcp:policy=a/1/1:policy=b/1/1:pattern=(?P<port>1)", `(column 32): a pattern helper has one expectation policy`},
	} {
		_, err := ParseHelperFlagWith(reg, tc.in)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q:\n got %v\nwant %q", tc.in, err, tc.want)
		}
	}
}
