//go:build hosttest

package config

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/gonfct/gonfct/internal/nstest"
)

// Debian's conntrackd ships sync and stats examples (no helper example):
// they must load unchanged, every section skipped with a notice.
func TestDebianExamplesLoad(t *testing.T) {
	files, _ := filepath.Glob("/usr/share/doc/conntrackd/examples/*/conntrackd.conf")
	more, _ := filepath.Glob("/usr/share/doc/conntrackd/examples/*/*/conntrackd.conf")
	files = append(files, more...)
	files = append(files, "/etc/conntrackd/conntrackd.conf")
	if len(files) < 5 {
		t.Fatalf("Debian's conntrackd examples are missing (found %q): run scripts/deps", files)
	}
	for _, f := range files {
		cfg, err := Load(f)
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if len(cfg.Helpers) != 0 || len(cfg.Notices) == 0 {
			t.Errorf("%s: %d helpers, notices %q", f, len(cfg.Helpers), cfg.Notices)
		}
		for _, n := range cfg.Notices {
			if !strings.HasPrefix(n, f+":") || !strings.Contains(n, "section ignored") {
				t.Errorf("%s: notice %q", f, n)
			}
		}
	}
}

// conntrackd's own parser reads the files gonfct reads as conntrackd
// files, and agrees on what they say. conntrackd then fails to set the
// helpers up (this kernel has no nfnetlink_cthelper, or the helper stubs
// are missing), which is after parsing.
func TestConntrackdReadsTheSameFiles(t *testing.T) {
	ns := nstest.New(t)
	line := regexp.MustCompile("configuring helper `([a-z0-9]+)' with queuenum=([0-9]+) and queuelen=([0-9]+)")
	pol := regexp.MustCompile(`policy name=([a-z0-9]+) expect_timeout=([0-9]+) expect_max=([0-9]+)`)
	run := func(t *testing.T, src string) string {
		dir := t.TempDir()
		src += fmt.Sprintf("\nGeneral {\n LockFile %s/lock\n UNIX { Path %s/ctl }\n}\n", dir, dir)
		path := filepath.Join(dir, "conntrackd.conf")
		if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		out, _ := ns.Run("timeout", "5", "conntrackd", "-C", path)
		if strings.Contains(out, "parsing config file") {
			t.Fatalf("conntrackd refused the file:\n%s", out)
		}
		return out
	}

	t.Run("example", func(t *testing.T) {
		src, err := os.ReadFile("testdata/conntrackd-helper.conf")
		if err != nil {
			t.Fatal(err)
		}
		// conntrackd stops at the first helper it cannot set up; it sets
		// them up last first. Ask for one at a time.
		cfg, err := ParseWith(testRegistry(), "x", strings.NewReader(string(src)))
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range cfg.Helpers {
			one := fmt.Sprintf("Helper { Type %s %s %s { QueueNum %d QueueLen %d Policy %s { ExpectMax %d ExpectTimeout %d } } }",
				h.Name, familyName(h.Family), protoName(h.Proto), h.QueueNum, h.QueueLen,
				h.Policies[0].Name, h.Policies[0].ExpectMax, h.Policies[0].ExpectTimeout)
			out := run(t, one)
			m, p := line.FindStringSubmatch(out), pol.FindStringSubmatch(out)
			if m == nil || p == nil {
				t.Fatalf("%s: conntrackd did not configure it:\n%s", h.Name, out)
			}
			want := []string{h.Name, fmt.Sprint(h.QueueNum), fmt.Sprint(h.QueueLen)}
			wantPol := []string{h.Policies[0].Name, fmt.Sprint(h.Policies[0].ExpectTimeout), fmt.Sprint(h.Policies[0].ExpectMax)}
			if strings.Join(m[1:], " ") != strings.Join(want, " ") || strings.Join(p[1:], " ") != strings.Join(wantPol, " ") {
				t.Errorf("conntrackd read %q %q, gonfct %q %q", m[1:], p[1:], want, wantPol)
			}
		}
	})

	// The docs example, without its gonfct-only Option lines.
	t.Run("docs example", func(t *testing.T) {
		src, err := os.ReadFile("../../docs/examples/helpers.conf")
		if err != nil {
			t.Fatal(err)
		}
		var keep []string
		for _, l := range strings.Split(string(src), "\n") {
			if !strings.HasPrefix(strings.TrimSpace(l), "Option ") {
				keep = append(keep, l)
			}
		}
		if out := run(t, strings.Join(keep, "\n")); !line.MatchString(out) {
			t.Errorf("conntrackd did not get to the helpers:\n%s", out)
		}
	})

	// The quirk gonfct fixes: conntrackd zeroes the value a Policy leaves out.
	t.Run("half policy", func(t *testing.T) {
		src := "Helper {\n\tSetup yes\n\tType ftp inet tcp {\n\t\tQueueNum 5\n\t\tPolicy ftp { ExpectMax 2 }\n\t}\n}\n"
		out := run(t, src)
		if !strings.Contains(out, "policy name=ftp expect_timeout=0 expect_max=2") {
			t.Errorf("conntrackd no longer zeroes ExpectTimeout:\n%s", out)
		}
		cfg, err := ParseWith(testRegistry(), "x", strings.NewReader(src))
		if err != nil {
			t.Fatal(err)
		}
		if p := cfg.Helpers[0].Policies[0]; p.ExpectMax != 2 || p.ExpectTimeout != 300 || !cfg.Setup {
			t.Errorf("gonfct read %+v", p)
		}
	})
}
