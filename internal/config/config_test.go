package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/gonfct/gonfct/pkg/cthelper"
	"github.com/gonfct/gonfct/pkg/cthelper/builtin"
	"golang.org/x/sys/unix"
)

// optionParser stands in for a protocol parser: it knows one boolean
// option, "loose", so option checking can be tested whatever parsers this
// build has.
type optionParser struct{}

func (optionParser) Parse(*cthelper.Packet, *cthelper.Result) error { return nil }

func newOptionParser(o cthelper.Options) (cthelper.Parser, error) {
	for k, v := range o {
		if k != "loose" {
			return nil, fmt.Errorf("unknown option %q: the option is loose", k)
		}
		if _, err := parseBool(v); err != nil {
			return nil, fmt.Errorf("option loose: %v", err)
		}
	}
	return optionParser{}, nil
}

// testRegistry is the built-in table with a parser for every helper but
// rsh, plus "multi", a helper with two policies.
func testRegistry() *cthelper.Registry {
	var specs []cthelper.Spec
	for _, n := range builtin.Registry.Names() {
		s, _ := builtin.Registry.Lookup(n)
		c := *s
		c.NewParser = newOptionParser
		if n == "rsh" {
			c.NewParser = nil
		}
		specs = append(specs, c)
	}
	specs = append(specs, cthelper.Spec{Name: "multi", Protos: []uint8{unix.IPPROTO_UDP}, Families: []uint8{unix.AF_INET},
		Policies:  []cthelper.Policy{{Name: "one", ExpectMax: 1, ExpectTimeout: 10}, {Name: "two", ExpectMax: 2, ExpectTimeout: 20}},
		NewParser: newOptionParser})
	return cthelper.NewRegistry(specs...)
}

func parse(t *testing.T, src string) (*Config, error) {
	t.Helper()
	return ParseWith(testRegistry(), "t.conf", strings.NewReader(src))
}

func TestUpstreamHelperExample(t *testing.T) {
	f, err := os.Open("testdata/conntrackd-helper.conf")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cfg, err := ParseWith(testRegistry(), "conntrackd-helper.conf", f)
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		name         string
		fam, proto   uint8
		queue, qlen  uint32
		priv         uint32
		max, timeout uint32
		line         int
	}
	want := []row{
		{"ftp", unix.AF_INET, unix.IPPROTO_TCP, 0, 10240, 24, 1, 300, 5},
		{"rpc", unix.AF_INET, unix.IPPROTO_TCP, 1, 0, 16, 1, 300, 13},
		{"rpc", unix.AF_INET, unix.IPPROTO_UDP, 2, 0, 16, 1, 300, 20},
		{"tns", unix.AF_INET, unix.IPPROTO_TCP, 3, 0, 1, 1, 300, 27},
	}
	if len(cfg.Helpers) != len(want) {
		t.Fatalf("%d helpers, want %d", len(cfg.Helpers), len(want))
	}
	for i, w := range want {
		h := cfg.Helpers[i]
		got := row{h.Name, h.Family, h.Proto, h.QueueNum, h.QueueLen, h.PrivLen, h.Policies[0].ExpectMax, h.Policies[0].ExpectTimeout, h.Pos.Line}
		if got != w || h.Spec == nil || h.Spec.Name != h.Name || h.Options == nil {
			t.Errorf("helper %d: %+v, want %+v", i, got, w)
		}
	}
	if len(cfg.Notices) != 1 || cfg.Notices[0] != "conntrackd-helper.conf:36:1: General section ignored: gonfct reads only the Helper section" {
		t.Errorf("notices %q", cfg.Notices)
	}
	if cfg.HasSetup {
		t.Error("Setup reported without a Setup line")
	}
}

func TestPolicyKeepsDefaultOfUnsetValue(t *testing.T) {
	cfg, err := parse(t, `Helper { Type ftp inet6 tcp { Policy ftp { ExpectMax 7 } }
	Type tftp inet udp { QueueNum 1
	Policy tftp { ExpectTimeout 2m } } }`)
	if err != nil {
		t.Fatal(err)
	}
	if p := cfg.Helpers[0].Policies[0]; p != (cthelper.Policy{Name: "ftp", ExpectMax: 7, ExpectTimeout: 300}) {
		t.Errorf("ftp policy %+v", p)
	}
	if p := cfg.Helpers[1].Policies[0]; p != (cthelper.Policy{Name: "tftp", ExpectMax: 1, ExpectTimeout: 120}) {
		t.Errorf("tftp policy %+v", p)
	}
	// The registry's own defaults are untouched.
	s, _ := builtin.Registry.Lookup("ftp")
	if s.Policies[0].ExpectMax != 1 {
		t.Error("registry default changed")
	}
}

func TestFamiliesHaveTheirOwnPolicies(t *testing.T) {
	cfg, err := parse(t, `Helper {
	Type ftp inet tcp { QueueNum 1 Policy ftp { ExpectMax 2 ExpectTimeout 3 } }
	Type ftp inet6 tcp { QueueNum 2 }
}`)
	if err != nil {
		t.Fatal(err)
	}
	if a, b := cfg.Helpers[0].Policies[0], cfg.Helpers[1].Policies[0]; a.ExpectMax != 2 || b.ExpectMax != 1 || b.ExpectTimeout != 300 {
		t.Errorf("inet %+v inet6 %+v", a, b)
	}
}

func TestMultiplePolicies(t *testing.T) {
	cfg, err := parse(t, "Helper{Type multi inet udp{Policy two{ExpectMax 5}Policy one{ExpectTimeout 1}}}")
	if err != nil {
		t.Fatal(err)
	}
	want := []cthelper.Policy{{Name: "one", ExpectMax: 1, ExpectTimeout: 1}, {Name: "two", ExpectMax: 5, ExpectTimeout: 20}}
	if !reflect.DeepEqual(cfg.Helpers[0].Policies, want) {
		t.Errorf("policies %+v", cfg.Helpers[0].Policies)
	}
}

func TestSyntaxForms(t *testing.T) {
	// Statements across lines, a brace on its own line, comments after
	// words, quoted words, booleans in any case, several Helper sections.
	cfg, err := parse(t, `# leading comment
Sync { Mode FTFW { ResendQueueSize 131072 } Multicast { IPv4_address 225.0.0.50 } }
Stats { LogFile "/var/log/my stats.log" }
Helper
{
	Setup YES # comment after a word
	Type "ftp" inet tcp
	{
		QueueNum
			4
		Option loose On
	}
}
Helper { Type tftp inet6 udp { QueueNum 5 } }`)
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.Setup || !cfg.HasSetup {
		t.Error("Setup YES not read")
	}
	if len(cfg.Helpers) != 2 || cfg.Helpers[0].QueueNum != 4 || cfg.Helpers[0].Options["loose"] != "On" || cfg.Helpers[1].Family != unix.AF_INET6 {
		t.Errorf("helpers %+v", cfg.Helpers)
	}
	if len(cfg.Notices) != 2 || !strings.HasPrefix(cfg.Notices[0], "t.conf:2:1: Sync section ignored") || !strings.HasPrefix(cfg.Notices[1], "t.conf:3:1: Stats") {
		t.Errorf("notices %q", cfg.Notices)
	}
	if s := cfg.Helpers[0].String(); s != "ftp:inet:tcp:queue=4:policy=ftp/1/300:loose=On" {
		t.Errorf("String() = %q", s)
	}
	obj := cfg.Helpers[1].Object()
	if obj.Name != "tftp" || obj.QueueNum != 5 || obj.Status != cthelper.Enabled || obj.Validate() != nil {
		t.Errorf("Object() = %+v", obj)
	}
	if _, err := cfg.Helpers[0].NewParser(); err != nil {
		t.Error(err)
	}
}

func TestEmptyFiles(t *testing.T) {
	for _, src := range []string{"", "# only a comment\n", "Helper { }", "General { }\n"} {
		cfg, err := parse(t, src)
		if err != nil || len(cfg.Helpers) != 0 {
			t.Errorf("%q: %v %+v", src, err, cfg)
		}
	}
}

func TestErrors(t *testing.T) {
	long := strings.Repeat("x", 16)
	for _, tc := range []struct{ src, want string }{
		{"}", "t.conf:1:1: unexpected '}': a section"},
		{"Foo { }", `t.conf:1:1: unknown section "Foo": expected Helper, General, Sync, Stats`},
		{"helper { }", `t.conf:1:1: unknown section "helper": keywords are case-sensitive, write Helper`},
		{"Helper Type", `t.conf:1:8: expected '{' after Helper, got "Type"`},
		{"General {\n LogFile on\n", "t.conf:3:1: missing '}' to close General at t.conf:1:1"},
		{"Helper {", "t.conf:1:9: missing '}' to close the Helper section"},
		{"Helper { { }", "t.conf:1:10: unexpected '{' in the Helper section"},
		{"Helper { Kind ftp }", `t.conf:1:10: unknown keyword "Kind": expected Type, Setup`},
		{"Helper { setup yes }", `unknown keyword "setup": keywords are case-sensitive, write Setup`},
		{"Helper { Setup maybe }", `t.conf:1:16: Setup "maybe" is not yes, no, on or off`},
		{"Helper { Setup }", `t.conf:1:16: Setup needs yes or no, got '}'`},
		{"Helper { Type ftp inet tcp }", `t.conf:1:28: expected '{' after Type ftp inet tcp, got '}'`},
		{"Helper { Type ftp inet { } }", `t.conf:1:24: Type needs a protocol, tcp or udp, after the family, got '{'`},
		{"Helper { Type", `t.conf:1:14: Type needs a helper name`},
		{"Helper { Type nope inet tcp { } }", `t.conf:1:15: unknown helper "nope": gonfct has amanda, dhcpv6, ftp,`},
		{"Helper { Type " + long + " inet tcp { } }", `t.conf:1:15: helper name "` + long + `" is 16 bytes long: the kernel allows at most 15`},
		{"Helper { Type rsh inet tcp { } }", `t.conf:1:15: helper "rsh" has no parser in this build of gonfct`},
		{"Helper { Type ftp ipv4 tcp { } }", `t.conf:1:19: unknown family "ipv4": write inet or inet6`},
		{"Helper { Type ftp inet TCP { } }", `t.conf:1:24: unknown protocol "TCP": write tcp or udp`},
		{"Helper { Type ftp inet udp { } }", `t.conf:1:24: helper ftp does not work over udp: it supports tcp`},
		{"Helper { Type dhcpv6 inet udp { } }", `t.conf:1:22: helper dhcpv6 does not work over inet: it supports inet6`},
		{"Helper { Type ftp inet tcp {", `t.conf:1:29: missing '}' to close Type ftp at t.conf:1:10`},
		{"Helper { Type ftp inet tcp { { } }", `t.conf:1:30: unexpected '{' in Type ftp`},
		{"Helper { Type ftp inet tcp { Queue 1 } }", `t.conf:1:30: unknown keyword "Queue": expected QueueNum, QueueLen, Policy, Option`},
		{"Helper { Type ftp inet tcp { queuenum 1 } }", `write QueueNum`},
		{"Helper { Type ftp inet tcp { QueueNum } }", `t.conf:1:39: QueueNum needs a number, got '}'`},
		{"Helper { Type ftp inet tcp { QueueNum -1 } }", `t.conf:1:39: QueueNum "-1" is not a number from 0 to 65535`},
		{"Helper { Type ftp inet tcp { QueueNum 65536 } }", `t.conf:1:39: QueueNum "65536" is not a number from 0 to 65535`},
		{"Helper { Type ftp inet tcp { QueueNum 1\nQueueNum 2 } }", `t.conf:2:1: QueueNum is given twice in this Type block (first at t.conf:1:30)`},
		{"Helper { Type ftp inet tcp { QueueLen 4294967296 } }", `t.conf:1:39: QueueLen "4294967296" is not a number from 0 to 4294967295`},
		{"Helper { Type ftp inet tcp { QueueLen x } }", `QueueLen "x" is not a number`},
		{"Helper { Type ftp inet tcp { Policy } }", `t.conf:1:37: Policy needs a policy name, got '}'`},
		{"Helper { Type ftp inet tcp { Policy { } } }", `t.conf:1:37: Policy needs a policy name, got '{'`},
		{"Helper { Type ftp inet tcp { Policy tftp { ExpectMax 1 } } }", `t.conf:1:37: helper ftp has no policy "tftp": its policies are ftp`},
		{"Helper { Type ftp inet tcp { Policy " + long + " { ExpectMax 1 } } }", `t.conf:1:37: policy name "` + long + `" is 16 bytes long`},
		{"Helper { Type ftp inet tcp { Policy ftp { } } }", `t.conf:1:43: Policy ftp is empty: set ExpectMax and/or ExpectTimeout`},
		{"Helper { Type ftp inet tcp { Policy ftp { ExpectMax 256 } } }", `t.conf:1:53: ExpectMax "256" is not a number from 0 to 255`},
		{"Helper { Type ftp inet tcp { Policy ftp { ExpectMax 1 ExpectMax 2 } } }", `t.conf:1:55: ExpectMax is given twice in Policy ftp`},
		{"Helper { Type ftp inet tcp { Policy ftp { ExpectTimeout 1 ExpectTimeout 2 } } }", `t.conf:1:59: ExpectTimeout is given twice in Policy ftp`},
		{"Helper { Type ftp inet tcp { Policy ftp { ExpectTimeout -5 } } }", `t.conf:1:57: ExpectTimeout "-5" is not a duration: want seconds (300) or with units (300s, 5m, 1h30m), at most 4294967 s`},
		{"Helper { Type ftp inet tcp { Policy ftp { Expectmax 1 } } }", `t.conf:1:43: unknown keyword "Expectmax": keywords are case-sensitive, write ExpectMax`},
		{"Helper { Type ftp inet tcp { Policy ftp { { } } }", `t.conf:1:43: unexpected '{' in Policy ftp`},
		{"Helper { Type ftp inet tcp { Policy ftp { ExpectMax 1", `t.conf:1:54: missing '}' to close Policy ftp at t.conf:1:30`},
		{"Helper { Type ftp inet tcp { Policy ftp { ExpectMax 1 } Policy ftp { ExpectMax 2 } } }", `t.conf:1:57: Policy ftp is given twice in Type ftp (first at t.conf:1:30)`},
		{"Helper { Type ftp inet tcp { Option loose } }", `t.conf:1:43: Option needs a value after the name (Option loose yes), got '}'`},
		{"Helper { Type ftp inet tcp { Option } }", `t.conf:1:37: Option needs a name and a value`},
		{"Helper { Type ftp inet tcp { Option loose yes Option loose no } }", `t.conf:1:54: option loose is given twice in Type ftp (first at t.conf:1:37)`},
		{"Helper { Type ftp inet tcp { Option loose yes\n Option lose yes } }", `t.conf:2:9: helper ftp: unknown option "lose": the option is loose`},
		{"Helper { Type ftp inet tcp { Option loose maybe } }", `t.conf:1:37: helper ftp: option loose: "maybe" is not yes, no, on or off`},
		{"Helper { Type ftp inet tcp { Option \"\" x } }", `t.conf:1:37: empty option name`},
		{"Helper {\n Type ftp inet tcp { }\n Type ftp inet tcp { QueueNum 1 } }", `t.conf:3:2: helper ftp inet tcp is declared twice (first at t.conf:2:2): keep one`},
		{"Helper {\n Type ftp inet tcp { QueueNum 7 }\n Type ftp inet6 tcp { QueueNum 7 } }", `t.conf:3:2: queue 7 is already used by helper ftp inet tcp at t.conf:2:2: each helper needs its own QueueNum`},
		{"Helper {\n Type ftp inet tcp { }\n Type tftp inet udp { } }", `t.conf:3:2: queue 0 is already used by helper ftp inet tcp`},
		{"Helper { Type \"ftp inet tcp { } }", `t.conf:1:15: unterminated quoted string`},
		{"Helper { \x01 }", `t.conf:1:10: control character 0x01 in the file`},
	} {
		_, err := parse(t, tc.src)
		if err == nil {
			t.Errorf("%q: no error, want %q", tc.src, tc.want)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q:\n got %q\nwant %q", tc.src, err, tc.want)
		}
		var ce *Error
		if !errors.As(err, &ce) || ce.Pos.File != "t.conf" || ce.Pos.Line < 1 || ce.Pos.Col < 1 {
			t.Errorf("%q: %v is not a positioned *Error", tc.src, err)
		}
		if strings.Contains(err.Error(), "\n") {
			t.Errorf("%q: error is not one line: %q", tc.src, err)
		}
	}
}

func TestLoad(t *testing.T) {
	if _, err := Load(filepath.Join(t.TempDir(), "missing.conf")); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("missing file: %v", err)
	}
	big := strings.NewReader(strings.Repeat("#", maxFileSize+1))
	if _, err := Parse("big.conf", big); err == nil || !strings.Contains(err.Error(), "big.conf: larger than") {
		t.Errorf("big file: %v", err)
	}
	// Against the real table: a file of skipped sections loads whatever
	// parsers this build has.
	path := filepath.Join(t.TempDir(), "c.conf")
	if err := os.WriteFile(path, []byte("General { Syslog on }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(path)
	if err != nil || len(cfg.Notices) != 1 || !strings.HasPrefix(cfg.Notices[0], path+":1:1: General") {
		t.Errorf("Load: %v %+v", err, cfg)
	}
}

func TestAdd(t *testing.T) {
	cfg, err := parse(t, "Helper { Type ftp inet tcp { QueueNum 1 } }")
	if err != nil {
		t.Fatal(err)
	}
	h, err := ParseHelperFlagWith(testRegistry(), "tftp:inet:udp:queue=1")
	if err != nil {
		t.Fatal(err)
	}
	err = cfg.Add(h)
	if err == nil || err.Error() != "--helper tftp:inet:udp:queue=1 (column 1): queue 1 is already used by helper ftp inet tcp at t.conf:1:10: each helper needs its own QueueNum" {
		t.Errorf("Add: %v", err)
	}
	h.QueueNum = 2
	if err := cfg.Add(h); err != nil || len(cfg.Helpers) != 2 {
		t.Errorf("Add: %v", err)
	}
}

// Netns lines name the namespaces to serve; in a Type block they keep the
// helper to those namespaces, and the same helper may be declared again
// for others, as long as the kernel's one object fits both.
func TestNetns(t *testing.T) {
	cfg, err := parse(t, `Helper {
	Netns tenant-a
	Netns tenant-b
	Netns /run/netns
	Type ftp inet tcp {
		QueueNum 5
		Netns tenant-a
	}
	Type ftp inet tcp {
		QueueNum 5
		Option loose yes
		Netns tenant-b
		Netns "/proc/1/ns/net"
	}
}`)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(cfg.Netns, " "); got != "tenant-a tenant-b /run/netns" || cfg.NetnsPos[1].Line != 3 {
		t.Errorf("Netns %q at %v", got, cfg.NetnsPos)
	}
	if len(cfg.Helpers) != 2 || strings.Join(cfg.Helpers[1].Netns, " ") != "tenant-b /proc/1/ns/net" || cfg.Helpers[1].Options["loose"] != "yes" {
		t.Errorf("helpers %+v", cfg.Helpers)
	}

	for _, tc := range []struct{ src, want string }{
		{"Helper { Netns }", "t.conf:1:16: Netns needs a namespace"},
		{"Helper { Netns a Netns a }", "t.conf:1:24: Netns a is given twice (first at t.conf:1:16)"},
		{"Helper { Type ftp inet tcp { Netns a Netns a } }", "t.conf:1:44: Netns a is given twice (first at t.conf:1:36)"},
		{"Helper {\n Type ftp inet tcp { QueueNum 5 Netns a }\n Type ftp inet tcp { QueueNum 6 Netns b } }",
			"t.conf:3:2: helper ftp inet tcp has QueueNum 6 here and 5 at t.conf:2:2: the kernel keeps one queue number per helper, " +
				"for every namespace: give both the same QueueNum"},
		{"Helper {\n Type ftp inet tcp { Netns a }\n Type ftp inet tcp { Netns b Policy ftp { ExpectMax 9 } } }",
			"t.conf:3:2: helper ftp inet tcp has other policies here than at t.conf:2:2"},
		{"Helper {\n Type ftp inet tcp { Netns a }\n Type ftp inet tcp { Netns b QueueLen 9 } }", "has QueueLen 9 here and 0 at t.conf:2:2"},
		{"Helper {\n Type ftp inet tcp { Netns a }\n Type ftp inet tcp { Netns b Netns a } }",
			"t.conf:3:2: helper ftp inet tcp is declared twice for namespace a (first at t.conf:2:2)"},
		{"Helper {\n Type ftp inet tcp { Netns a }\n Type ftp inet tcp { } }",
			"t.conf:3:2: helper ftp inet tcp is declared twice (first at t.conf:2:2): keep one, or give each its own Netns"},
	} {
		if _, err := parse(t, tc.src); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q:\n got %v\nwant %q", tc.src, err, tc.want)
		}
	}
}

// Every mistake in a file at once, in file order, each at its position;
// the parser goes on after a bad value, an unknown keyword, a bad Type
// line and a bad Policy block (issue 19, defect 4).
func TestErrorsAllAtOnce(t *testing.T) {
	_, err := parse(t, `Helper {
	Type ftp inet tcp {
		QueueNum 70000
		Colour blue
		QueueLen 5
		QueueLen 6
	}
	Type tftp inet5 udp { QueueNum 2 Policy tftp { ExpectMax 1 } }
	Type ftp inet6 tcp {
		Policy nope { ExpectMax 1 }
		Policy ftp { ExpectMax x ExpectTimeout 1y }
	}
	Stray
}
`)
	var list ErrorList
	if !errors.As(err, &list) {
		t.Fatalf("err %v (%T), want an ErrorList", err, err)
	}
	want := []string{
		`t.conf:3:12: QueueNum "70000" is not a number from 0 to 65535`,
		`t.conf:4:3: unknown keyword "Colour": expected QueueNum, QueueLen, Policy, Option, Netns, Pattern`,
		`t.conf:6:3: QueueLen is given twice in this Type block (first at t.conf:5:3): keep one`,
		`t.conf:8:12: unknown family "inet5": write inet or inet6`,
		`t.conf:10:10: helper ftp has no policy "nope": its policies are ftp`,
		`t.conf:11:26: ExpectMax "x" is not a number from 0 to 255`,
		`t.conf:11:42: ExpectTimeout "1y" is not a duration: want seconds (300) or with units (300s, 5m, 1h30m), at most 4294967 s`,
		`t.conf:13:2: unknown keyword "Stray": expected Type, Setup, Netns`,
	}
	got := strings.Split(list.Error(), "\n")
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if len(list.Errors()) != len(want) {
		t.Errorf("Errors() has %d, want %d", len(list.Errors()), len(want))
	}
}

func TestErrorsCapped(t *testing.T) {
	_, err := parse(t, "Helper {\n"+strings.Repeat("\tSetup maybe\n", 30)+"}\n")
	var list ErrorList
	if !errors.As(err, &list) || len(list) != maxErrors+1 || !strings.Contains(list[maxErrors].Msg, "and 10 more errors") {
		t.Errorf("30 mistakes: %v", err)
	}
}
