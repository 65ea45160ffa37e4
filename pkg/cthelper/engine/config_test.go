package engine

import (
	"bytes"
	"strings"
	"testing"

	"github.com/gonfct/gonfct/pkg/cthelper"
	"golang.org/x/sys/unix"
)

func ftpHelper(family uint8, queue uint32, src string) Helper {
	return Helper{
		Object: cthelper.Helper{Name: "ftp", Family: family, Proto: unix.IPPROTO_TCP, QueueNum: queue, PrivLen: 24,
			Policies: []cthelper.Policy{{Name: "ftp", ExpectMax: 1, ExpectTimeout: 300}}},
		Parser: parserFunc(func(*cthelper.Packet, *cthelper.Result) error { return nil }),
		Source: src,
	}
}

func TestConfigValidate(t *testing.T) {
	ok := Config{Helpers: []Helper{ftpHelper(unix.AF_INET, 5, "a"), ftpHelper(unix.AF_INET6, 5, "b")}}
	if err := ok.Validate(); err != nil {
		t.Fatalf("ftp for both families on one queue: %v", err)
	}
	if qs := ok.queues(); len(qs) != 1 || len(qs[0].objects) != 2 {
		t.Fatalf("queues %+v", qs)
	}
	other := ftpHelper(unix.AF_INET, 5, "c")
	other.Object.Name = "tftp"
	noParser := ftpHelper(unix.AF_INET, 6, "d")
	noParser.Parser = nil
	long := ftpHelper(unix.AF_INET, 7, "e")
	long.Object.Name = "a-very-long-helper-name"
	for name, tc := range map[string]struct {
		cfg  Config
		want string
	}{
		"empty":        {Config{}, "no helper to run"},
		"two on queue": {Config{Helpers: []Helper{ftpHelper(unix.AF_INET, 5, "a"), other}}, "each helper needs its own queue"},
		"twice":        {Config{Helpers: []Helper{ftpHelper(unix.AF_INET, 5, "a"), ftpHelper(unix.AF_INET, 6, "b")}}, "configured twice (also at a)"},
		"no parser":    {Config{Helpers: []Helper{noParser}}, "d: helper \"ftp\" has no parser"},
		"long name":    {Config{Helpers: []Helper{long}}, "e: helper name"},
	} {
		err := tc.cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", name, err, tc.want)
		}
	}
}

func inNetns(h Helper, names ...string) Helper {
	h.Netns = names
	return h
}

// A helper may be configured apart for namespaces apart, with its own
// parser in each, but the kernel object (queue, policies) is one.
func TestConfigPerNamespace(t *testing.T) {
	a, b := inNetns(ftpHelper(unix.AF_INET, 5, "f:1:1"), "a"), inNetns(ftpHelper(unix.AF_INET, 5, "f:9:1"), "b", "c")
	ok := Config{Helpers: []Helper{a, b, ftpHelper(unix.AF_INET6, 5, "f:20:1")}, Netns: []string{"a", "b", "c", "d"}}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	qs := ok.queues()
	if len(qs) != 1 || len(qs[0].objects) != 2 || len(qs[0].parsers) != 3 {
		t.Fatalf("queues %+v", qs)
	}
	for _, ns := range []string{"a", "b", "c", "d", ""} {
		if _, ok := qs[0].parserFor(ns); !ok {
			t.Errorf("queue 5 not served in %q (ftp inet6 is everywhere)", ns)
		}
	}
	only := Config{Helpers: []Helper{a}, Netns: []string{"a", "b"}}
	if _, ok := only.queues()[0].parserFor("b"); ok {
		t.Error("a helper for namespace a is served in b")
	}

	if err := (&Config{Helpers: []Helper{a}, Netns: []string{"/run/netns"}}).Validate(); err != nil {
		t.Errorf("kept to a namespace a directory may hold: %v", err)
	}
	otherQueue := inNetns(ftpHelper(unix.AF_INET, 6, "f:9:1"), "b")
	otherPolicy := inNetns(ftpHelper(unix.AF_INET, 5, "f:9:1"), "b")
	otherPolicy.Object.Policies = []cthelper.Policy{{Name: "ftp", ExpectMax: 2, ExpectTimeout: 300}}
	for name, tc := range map[string]struct {
		cfg  Config
		want string
	}{
		"queue": {Config{Helpers: []Helper{a, otherQueue}}, "f:9:1: helper ftp inet tcp has queue 6 for namespace b and queue 5 for namespace a (at f:1:1): " +
			"the kernel keeps one queue number per helper object"},
		"policy":     {Config{Helpers: []Helper{a, otherPolicy}}, "has other expectation policies for namespace b than for namespace a"},
		"overlap":    {Config{Helpers: []Helper{a, inNetns(ftpHelper(unix.AF_INET, 5, "x"), "c", "a")}}, "configured twice for namespace a (also at f:1:1)"},
		"everywhere": {Config{Helpers: []Helper{a, ftpHelper(unix.AF_INET, 5, "x")}}, "configured twice (also at f:1:1)"},
		"not served": {Config{Helpers: []Helper{a}, Netns: []string{"b", "c"}}, "f:1:1: helper ftp is kept to namespace a, which is not served (the engine serves namespaces b, c)"},
		"own only":   {Config{Helpers: []Helper{a}}, "helper ftp is kept to namespace a, which is not served (the engine serves only its own namespace)"},
	} {
		err := tc.cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", name, err, tc.want)
		}
	}
}

func TestParseChoices(t *testing.T) {
	if v, err := ParseExpectVia("ctnetlink"); err != nil || v != ExpectCtnetlink || v.String() != "ctnetlink" {
		t.Fatal(v, err)
	}
	if _, err := ParseExpectVia("kernel"); err == nil {
		t.Fatal("unknown expectation path accepted")
	}
	if c, err := ParseCleanup("delete"); err != nil || c != CleanupDelete || c.String() != "delete" {
		t.Fatal(c, err)
	}
	if _, err := ParseCleanup("keep"); err == nil {
		t.Fatal("unknown cleanup accepted")
	}
}

func TestMetricsText(t *testing.T) {
	m := NewMetrics()
	s := m.For("", 5, "ftp")
	s.Accepted.Add(3)
	s.ExpectCtnetlink.Add(2)
	m.For("", 2, "tftp").Dropped.Add(1)
	m.For(`tenant "b"`, 5, "ftp").Accepted.Add(7)
	m.For("gone", 5, "ftp").Accepted.Add(1)
	m.drop("gone")
	var b bytes.Buffer
	if err := m.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"# TYPE gonfct_helper_packets_total counter\n",
		`gonfct_helper_packets_total{netns="",helper="ftp",queue="5",verdict="accept"} 3` + "\n",
		`gonfct_helper_packets_total{netns="",helper="tftp",queue="2",verdict="drop"} 1` + "\n",
		`gonfct_helper_expectations_created_total{netns="",helper="ftp",queue="5",path="ctnetlink"} 2` + "\n",
		`gonfct_helper_packets_total{netns="tenant \"b\"",helper="ftp",queue="5",verdict="accept"} 7` + "\n",
		`gonfct_reloads_total{result="ok"} 0` + "\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("metrics lack %q:\n%s", want, out)
		}
	}
	if strings.Index(out, `queue="2"`) > strings.Index(out, `queue="5"`) {
		t.Error("queues not in order")
	}
	if strings.Contains(out, "gone") {
		t.Error("a namespace let go still has metrics")
	}
	if strings.Count(out, "# TYPE gonfct_helper_packets_total") != 1 {
		t.Error("a metric's TYPE line repeated")
	}
}
