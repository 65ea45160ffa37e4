package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const (
	lobbyConf = "../../docs/examples/helper/lobby/lobby.conf"
	lobbyPcap = "../../docs/examples/helper/lobby/testdata/lobby.pcap"
)

// A helper written in the config file replays a capture as a built-in one
// does: the docs example's lobby pattern helper expects the UDP flow of
// each MATCH, over IPv4 and IPv6.
func TestPatternHelperTest(t *testing.T) {
	out, errw, code := gonfctRun("helper", "test", "lobby", "--config", lobbyConf, "--pcap", lobbyPcap)
	if code != 0 || strings.Count(out, "\n") != 2 ||
		!strings.HasPrefix(out, "packet 6 expect: 60 proto=17 src=10.57.0.2 dst=10.57.0.1 sport=0 dport=40123 ") ||
		!strings.Contains(out, "packet 19 expect: 60 proto=17 src=fd57::2 dst=fd57::1 sport=0 dport=40124 ") ||
		!strings.Contains(errw, "lobby: 26 packets, 2 flows to any port, 24 parsed: 2 expectations") {
		t.Errorf("exit %d\n%s%s", code, out, errw)
	}
	if _, errw, code := gonfctRun("helper", "test", "lobby", "--pcap", lobbyPcap); code != 2 || !strings.Contains(errw, "--config") {
		t.Errorf("without --config: exit %d %q", code, errw)
	}
}

// A pattern that cannot work is refused before anything touches the
// kernel: one line with file:line:column, exit 2, in run and run --check.
func TestPatternConfigErrors(t *testing.T) {
	conf := filepath.Join(t.TempDir(), "helpers.conf")
	if err := os.WriteFile(conf, []byte("Helper {\n\tType lobby inet tcp {\n\t\tPattern \"^MATCH ([0-9]+)$\"\n\t}\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"run", "--config", conf, "--check"},
		{"run", "--config", conf},
		{"helper", "test", "lobby", "--config", conf, "--pcap", lobbyPcap},
	} {
		out, errw, code := gonfctRun(args...)
		if code != 2 || out != "" || !strings.Contains(errw, "helpers.conf:3:11: Pattern: the pattern names no port: capture it as (?P<port>[0-9]+)") ||
			strings.Count(errw, "\n") != 1 {
			t.Errorf("%q: exit %d\n%s%s", args, code, out, errw)
		}
	}
	_, errw, code := gonfctRun("run", "--check", "--helper", "lobby:inet:tcp:pattern=^MATCH (?P<port>[0-9]+$")
	if code != 2 || !strings.Contains(errw, "(column 24): pattern: bad pattern: missing closing )") {
		t.Errorf("--helper: exit %d %q", code, errw)
	}
}
