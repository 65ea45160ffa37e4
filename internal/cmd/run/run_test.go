package run

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gonfct/gonfct/internal/cli"
	"github.com/gonfct/gonfct/internal/cli/clitest"
	"github.com/gonfct/gonfct/pkg/cthelper/engine"
	"golang.org/x/sys/unix"
)

func TestRunParsing(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "helpers.conf")
	os.WriteFile(conf, []byte(`
General { LogFile on }
Helper {
	Type ftp inet tcp {
		QueueNum 5
		QueueLen 100
		Policy ftp { ExpectMax 2 }
	}
}
`), 0o644)
	bad := filepath.Join(dir, "bad.conf")
	os.WriteFile(bad, []byte("Helper {\n\tType ftp inet tcp {\n\t\tQueueNum x\n\t}\n}\n"), 0o644)
	empty := filepath.Join(dir, "empty.conf")
	os.WriteFile(empty, []byte("General { }\n"), 0o644)

	tests := []struct {
		args  []string
		check func(t *testing.T, o *RunOptions)
		usage string
	}{
		{args: []string{"--helper", "ftp:inet:tcp:queue=5"}, check: func(t *testing.T, o *RunOptions) {
			h := o.Config.Helpers[0]
			if len(o.Config.Helpers) != 1 || h.Object.Name != "ftp" || h.Object.Family != unix.AF_INET || h.Object.QueueNum != 5 ||
				h.Object.PrivLen != 24 || h.Parser == nil || h.Object.Policies[0].ExpectTimeout != 300 {
				t.Fatalf("helper %+v", h)
			}
			if o.Cleanup != engine.CleanupDisable || o.ExpectVia != engine.ExpectAuto || o.LogLevel != slog.LevelInfo || o.Check {
				t.Fatalf("defaults %+v", o)
			}
		}},
		{args: []string{"--config", conf, "--helper", "ftp:inet6:tcp:queue=6:loose=yes", "--cleanup", "delete",
			"--expect-via", "verdict", "--fail-open", "--log-level", "debug", "--check", "--metrics", ":9469"},
			check: func(t *testing.T, o *RunOptions) {
				c := o.Config
				if len(c.Helpers) != 2 || c.Helpers[0].QueueLen != 100 || c.Helpers[0].Object.Policies[0].ExpectMax != 2 ||
					c.Helpers[0].Object.Policies[0].ExpectTimeout != 300 || c.Helpers[1].Object.Family != unix.AF_INET6 {
					t.Fatalf("config %+v", c)
				}
				if !c.FailOpen || c.Cleanup != engine.CleanupDelete || c.ExpectVia != engine.ExpectVerdict || !o.Check ||
					o.LogLevel != slog.LevelDebug || o.Metrics != ":9469" || !strings.Contains(c.Helpers[0].Source, "helpers.conf:4") {
					t.Fatalf("options %+v / %+v", o, c)
				}
				if len(o.Notices) == 0 {
					t.Fatal("the General section was skipped without a notice")
				}
			}},
		{args: nil, usage: "no helper to run"},
		{args: []string{"--config", empty}, usage: "declares no helper"},
		{args: []string{"--config", bad}, usage: "bad.conf:3:"},
		{args: []string{"--config", filepath.Join(dir, "absent.conf")}, usage: "absent.conf"},
		{args: []string{"--helper", "ftp:inet:tcp:queue=5", "--helper", "ftp:inet6:tcp:queue=5"}, usage: "queue"},
		{args: []string{"--helper", "ftp:inet:tcp", "--helper", "ftp:inet:tcp:queue=2"}, usage: "twice"},
		{args: []string{"--helper", "nosuch:inet:tcp"}, usage: "nosuch"},
		{args: []string{"--helper", "ftp:inet:udp"}, usage: "udp"},
		{args: []string{"--helper", "ftp:inet:tcp", "--cleanup", "keep"}, usage: "unknown cleanup"},
		{args: []string{"--helper", "ftp:inet:tcp", "--expect-via", "magic"}, usage: "unknown expectation path"},
		{args: []string{"--helper", "ftp:inet:tcp", "--log-level", "loud"}, usage: "--log-level"},
		{args: []string{"--helper", "ftp:inet:tcp", "--log-format", "xml"}, usage: "--log-format"},
		{args: []string{"--helper", "ftp:inet:tcp", "--metrics", "9469"}, usage: "HOST:PORT"},
		{args: []string{"--helper", "ftp:inet:tcp", "extra"}, usage: "takes no arguments"},
	}
	for _, tc := range tests {
		var got *RunOptions
		env := &cli.Env{Out: &bytes.Buffer{}, Err: &bytes.Buffer{}}
		err := clitest.Execute(t, NewCmdRun(env, func(o *RunOptions) error { got = o; return nil }), tc.args...)
		if tc.usage != "" {
			if err == nil || cli.ExitCode(err) != cli.ExitUsage || !strings.Contains(err.Error(), tc.usage) {
				t.Errorf("%q: %v (exit %d), want a usage error containing %q", tc.args, err, cli.ExitCode(err), tc.usage)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tc.args, err)
			continue
		}
		tc.check(t, got)
	}
}
