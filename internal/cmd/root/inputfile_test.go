package root

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// run is one gonfct command line: exit status and stderr.
func gonfct(args ...string) (int, string) {
	var out, errb bytes.Buffer
	code := Run(args, strings.NewReader(""), &out, &errb)
	return code, errb.String()
}

// An input file named on the command line that is missing, unreadable or
// corrupt ends every command the same way: exit 2, one line naming the
// file, no --help hint (issue 19, defect 6). None of these reach a kernel.
func TestInputFileErrorsExitAlike(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing")
	corrupt := filepath.Join(dir, "damaged")
	if err := os.WriteFile(corrupt, []byte("this is { not what it should be\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	unreadable := dir // a directory: read fails with EISDIR, even for root
	for _, f := range []string{missing, corrupt, unreadable} {
		for _, args := range [][]string{
			{"run", "--config", f},
			{"run", "--check", "--config", f},
			{"ct", "restore", f},
			{"helper", "test", "ftp", "--pcap", f},
			{"helper", "test", "ftp", "--pcap", corrupt, "--config", f},
		} {
			if f == corrupt && args[0] == "helper" && len(args) == 7 {
				continue // the capture is bad too; the one above covers it
			}
			code, errw := gonfct(args...)
			if code != 2 || strings.Count(errw, "\n") != 1 || !strings.Contains(errw, filepath.Base(f)) || strings.Contains(errw, "--help") {
				t.Errorf("gonfct %s: exit %d, %q; want exit 2 and one line naming the file", strings.Join(args, " "), code, errw)
			}
		}
	}
}

// A config file with several mistakes has them all reported at once, one
// line each, file:line:column first, by run and by run --check (issue 19,
// defect 4).
func TestConfigErrorsAllAtOnce(t *testing.T) {
	conf := filepath.Join(t.TempDir(), "helpers.conf")
	err := os.WriteFile(conf, []byte(`Helper {
	Type ftp inet tcp {
		QueueNum 70000
		Policy ftp {
			ExpectMax lots
		}
	}
	Type tftp inet5 udp {
		QueueNum 2
	}
}
`), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		conf + `:3:12: QueueNum "70000" is not a number from 0 to 65535`,
		conf + `:5:14: ExpectMax "lots" is not a number from 0 to 255`,
		conf + `:8:12: unknown family "inet5": write inet or inet6`,
	}
	line := regexp.MustCompile(`^gonfct: [^:]+:\d+:\d+: `)
	for _, args := range [][]string{{"run", "--config", conf}, {"run", "--check", "--config", conf}} {
		code, errw := gonfct(args...)
		lines := strings.Split(strings.TrimSuffix(errw, "\n"), "\n")
		if code != 2 || len(lines) != len(want) {
			t.Errorf("gonfct %s: exit %d, %d lines:\n%s", strings.Join(args, " "), code, len(lines), errw)
			continue
		}
		for i, l := range lines {
			if !line.MatchString(l) || l != "gonfct: "+want[i] {
				t.Errorf("gonfct %s: line %d %q, want %q", strings.Join(args, " "), i+1, l, "gonfct: "+want[i])
			}
		}
	}
}

// What a new user types wrong is said in gonfct's words, one line, exit 2,
// before any kernel is reached (issue 19, defect 6).
func TestNoGoInternalsInMessages(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"ct", "list", "-p", "300"}, "protocol number 300 is out of range: IP protocol numbers go from 0 to 255"},
		{[]string{"ct", "list", "-5"}, "-5 is not a flag of gonfct ct list"},
		{[]string{"expect", "-L", "-5"}, "-5 is not a flag of gonfct expect list"},
		{[]string{"helper", "add", "ftp", "inet", "tcp", "--queue", "-1"}, `--queue "-1": want a number, 0 or more`},
		{[]string{"ct", "watch", "-c", "x"}, `--count "x": want a whole number`},
		{[]string{"ct", "watch", "--timeout", "1x"}, `--timeout "1x": want a duration`},
		{[]string{"expect", "watch", "--timeout", "-1"}, `--timeout "-1": want a duration`},
		{[]string{"run", "--rcvbuf", "1.5", "--helper", "ftp:inet:tcp"}, `--rcvbuf "1.5": want a whole number`},
		{[]string{"--netns", "", "ct", "list"}, `--netns "": empty`},
		{[]string{"--netns=", "run", "--check", "--helper", "ftp:inet:tcp"}, `--netns "": empty`},
		{[]string{"ct", "add", "tcp", "1.1.1.1", "2.2.2.2", "1", "2", "-t", "1x"}, `--timeout "1x": want a duration from 1s to`},
	} {
		code, errw := gonfct(tt.args...)
		if code != 2 || strings.Count(errw, "\n") != 1 || !strings.Contains(errw, tt.want) {
			t.Errorf("gonfct %q: exit %d, %q; want exit 2 with %q", tt.args, code, errw, tt.want)
		}
		for _, internal := range []string{"strconv", "time:", "shorthand", "parsing \""} {
			if strings.Contains(errw, internal) {
				t.Errorf("gonfct %q: %q shows Go's %q", tt.args, errw, internal)
			}
		}
	}
}
