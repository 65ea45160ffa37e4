package config

import (
	"strings"
	"testing"

	"github.com/gonfct/gonfct/pkg/cthelper"
	"github.com/gonfct/gonfct/pkg/cthelper/ftp"
	"golang.org/x/sys/unix"
)

// The example in the docs loads against the real table of helpers, and its
// options reach the real parser.
func TestDocsExample(t *testing.T) {
	cfg, err := Load("../../docs/examples/helpers.conf")
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Helpers) != 2 || len(cfg.Notices) != 0 {
		t.Fatalf("%d helpers, notices %q", len(cfg.Helpers), cfg.Notices)
	}
	h := cfg.Helpers[0]
	if h.String() != "ftp:inet:tcp:queue=1:queuelen=4096:policy=ftp/2/120:loose=no:low-ports=no" || h.PrivLen != ftp.PrivLen {
		t.Errorf("first helper %s, priv %d", h.String(), h.PrivLen)
	}
	if g := cfg.Helpers[1]; g.Family != unix.AF_INET6 || g.QueueNum != 2 || g.Policies[0] != (cthelper.Policy{Name: "ftp", ExpectMax: 1, ExpectTimeout: 300}) {
		t.Errorf("second helper %s", g.String())
	}
	p, err := h.NewParser()
	if err != nil {
		t.Fatal(err)
	}
	if fp, ok := p.(*ftp.Parser); !ok || fp.Loose || fp.LowPorts {
		t.Errorf("parser %#v", p)
	}
}

func TestRealParserOptions(t *testing.T) {
	cfg, err := Parse("r.conf", strings.NewReader("Helper { Type ftp inet tcp { Option loose yes } }"))
	if err != nil {
		t.Fatal(err)
	}
	if p, _ := cfg.Helpers[0].NewParser(); !p.(*ftp.Parser).Loose {
		t.Error("loose not passed to the parser")
	}
	_, err = Parse("r.conf", strings.NewReader("Helper { Type ftp inet tcp {\n  Option loose yes\n  Option lowports yes } }"))
	if err == nil || err.Error() != `r.conf:3:10: helper ftp: unknown option "lowports": ftp has loose and low-ports` {
		t.Errorf("bad option: %v", err)
	}
	h, err := ParseHelperFlag("ftp:inet6:tcp:queue=4:low-ports=yes")
	if err != nil {
		t.Fatal(err)
	}
	if p, _ := h.NewParser(); !p.(*ftp.Parser).LowPorts {
		t.Error("low-ports not passed to the parser")
	}
	if _, err := ParseHelperFlag("ftp:inet:tcp:loose=perhaps"); err == nil || err.Error() != `--helper ftp:inet:tcp:loose=perhaps (column 14): helper ftp: option loose: "perhaps" is not yes or no` {
		t.Errorf("bad flag option: %v", err)
	}
}
