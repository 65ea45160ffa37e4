package e2e

import (
	"bytes"
	"strings"
	"testing"

	"github.com/gonfct/gonfct/internal/cli"
)

func TestRunExitStatus(t *testing.T) {
	var out, errw bytes.Buffer
	if code := run([]string{"helper", "add", "ftp"}, nil, &out, &errw); code != cli.ExitUsage {
		t.Fatalf("exit %d, want 2; stderr %q", code, errw.String())
	}
	if lines := strings.Count(errw.String(), "\n"); lines != 1 || !strings.HasPrefix(errw.String(), "gonfct: ") {
		t.Fatalf("stderr is not one gonfct: line: %q", errw.String())
	}
	errw.Reset()
	if code := run([]string{"nosuchgroup"}, nil, &out, &errw); code != cli.ExitUsage {
		t.Fatalf("unknown command: exit %d, stderr %q", code, errw.String())
	}
}

// Through the whole root: usage errors are exit 2 with one line, before
// any socket is opened, and conntrack's command letters reach their
// commands.
func TestExpectUsageThroughRoot(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"expect", "add"}, "needs --master and --tuple"},
		{[]string{"expect", "-I", "--master", "tcp 1.1.1.1 2.2.2.2 1 2"}, "needs --master and --tuple"},
		{[]string{"expect", "-E", "-e", "update"}, "no update events"},
		{[]string{"expect", "-E", "-o", "table"}, "-o text or -o json"},
		{[]string{"-o", "yaml", "expect", "list"}, "unknown output format"},
		{[]string{"expect", "-D"}, "expect flush"},
		{[]string{"expect", "bogus"}, "unknown command"},
		{[]string{"expect", "get", "tcp", "1.1.1.1"}, "want PROTO SRC DST"},
		{[]string{"expect", "list", "--bogus"}, "unknown flag"},
	} {
		var out, errb bytes.Buffer
		code := run(tt.args, strings.NewReader(""), &out, &errb)
		if code != cli.ExitUsage || !strings.Contains(errb.String(), tt.want) || strings.Count(errb.String(), "\n") != 1 {
			t.Errorf("%q: exit %d, stderr %q; want exit 2 and one line about %q", tt.args, code, errb.String(), tt.want)
		}
	}
}

func TestRunHelpDocumentsHelperSyntax(t *testing.T) {
	var out bytes.Buffer
	if code := run([]string{"run", "--help"}, nil, &out, &out); code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{"NAME:FAMILY:PROTO[:queue=N][:queuelen=N][:policy=NAME/MAX/TIMEOUT][:OPTION=VALUE]",
		"--cleanup", "--check", "--fail-open", "--metrics", "SIGHUP"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("help lacks %q", want)
		}
	}
}

func TestRulesRun(t *testing.T) {
	var out, errw bytes.Buffer
	if code := run([]string{"rules", "ftp", "rpc"}, nil, &out, &errw); code != 0 {
		t.Fatalf("exit %d: %s", code, errw.String())
	}
	if !strings.Contains(out.String(), `udp dport 111 ct helper set "rpc-udp"`) {
		t.Errorf("output:\n%s", out.String())
	}
	out.Reset()
	errw.Reset()
	if code := run([]string{"rules", "ftp", "-o", "json"}, nil, &out, &errw); code != 2 || !strings.Contains(errw.String(), "-o json does not apply") || out.Len() != 0 {
		t.Errorf("-o json: exit %d, stderr %q, stdout %q", code, errw.String(), out.String())
	}
}

// --netns is repeatable for gonfct run only: any other command given two
// namespaces says so, before it opens a socket.
func TestNetnsTwiceOutsideRun(t *testing.T) {
	var out, errw bytes.Buffer
	code := run([]string{"--netns", "a", "--netns", "b", "helper", "list"}, nil, &out, &errw)
	if code != cli.ExitUsage || errw.String() != "gonfct: --netns is given 2 times: only gonfct run serves several namespaces at once; give it once (see --help)\n" {
		t.Errorf("exit %d, stderr %q", code, errw.String())
	}
}
