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
	"github.com/gonfct/gonfct/pkg/cthelper/engine/registry"
	"github.com/gonfct/gonfct/pkg/cthelper/pattern"
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
	badPattern := filepath.Join(dir, "pattern.conf")
	os.WriteFile(badPattern, []byte("Helper {\n\tType lobby inet tcp {\n\t\tPattern \"^MATCH (?P<prt>[0-9]+)$\"\n\t}\n}\n"), 0o644)
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
		{args: []string{"--helper", "lobby:inet:tcp:queue=7:direction=reply:expect=udp:pattern=^MATCH (?P<port>[0-9]+)$", "--check"},
			check: func(t *testing.T, o *RunOptions) {
				h := o.Config.Helpers[0]
				if _, ok := h.Parser.(*pattern.Parser); !ok || h.Object.Name != "lobby" || h.Object.QueueNum != 7 || h.Object.PrivLen != pattern.PrivLen ||
					h.Object.Policies[0].Name != "lobby" || !o.Check {
					t.Fatalf("helper %+v", h)
				}
			}},
		{args: nil, usage: "no helper to run"},
		{args: []string{"--config", badPattern, "--check"}, usage: `pattern.conf:3:19: Pattern: unknown group name "prt"`},
		{args: []string{"--helper", "lobby:inet:tcp:pattern=^MATCH [0-9]+$", "--check"}, usage: "(column 24): pattern: the pattern names no port"},
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

// The namespaces to serve: --netns (in Env) and --netns-all, else the
// file's Netns lines; a helper kept to a namespace not served is refused.
func TestRunNetnsParsing(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "helpers.conf")
	os.WriteFile(conf, []byte(`Helper {
	Netns tenant-a
	Netns tenant-b
	Type ftp inet tcp { QueueNum 5 Netns tenant-a }
	Type ftp inet tcp { QueueNum 5 Netns tenant-b Option loose yes }
}
`), 0o644)
	parse := func(netns []string, args ...string) (*RunOptions, error) {
		var got *RunOptions
		env := &cli.Env{Out: &bytes.Buffer{}, Err: &bytes.Buffer{}, NetNS: netns}
		err := clitest.Execute(t, NewCmdRun(env, func(o *RunOptions) error { got = o; return nil }), args...)
		return got, err
	}
	o, err := parse(nil, "--config", conf)
	if err != nil || strings.Join(o.Config.Netns, " ") != "tenant-a tenant-b" || len(o.Config.Helpers) != 2 ||
		strings.Join(o.Config.Helpers[1].Netns, " ") != "tenant-b" {
		t.Fatalf("file's Netns: %v %+v", err, o)
	}
	o, err = parse([]string{"tenant-a", "tenant-b", "tenant-c"}, "--config", conf, "--netns-all")
	if err != nil || strings.Join(o.Config.Netns, " ") != "tenant-a tenant-b tenant-c /run/netns" {
		t.Fatalf("flags: %v %+v", err, o)
	}
	if len(o.Notices) != 1 || !strings.Contains(o.Notices[0], "helpers.conf:2:8: Netns lines ignored: --netns or --netns-all given") {
		t.Errorf("notices %q", o.Notices)
	}
	o, err = parse([]string{"a", "b"}, "--helper", "ftp:inet:tcp")
	if err != nil || strings.Join(o.Config.Netns, " ") != "a b" {
		t.Fatalf("--netns with --helper: %v %+v", err, o)
	}
	_, err = parse([]string{"tenant-a", "tenant-c"}, "--config", conf)
	if cli.ExitCode(err) != cli.ExitUsage || !strings.Contains(err.Error(), "helpers.conf:5:2: helper ftp is kept to namespace tenant-b, which is not served") {
		t.Errorf("helper kept to a namespace not served: %v", err)
	}
}

func TestConflictAdvice(t *testing.T) {
	ce := &registry.ConflictError{Helper: registry.Helper{Name: "ftp", Family: "inet", Proto: "tcp"},
		Holder: registry.Entry{PID: 42, Netns: []string{"a", "b"}}}
	err := explain(ce, []string{"c", "a"})
	want := "helper ftp inet tcp is served by another engine, pid 42 in namespaces a, b: serve every namespace from one process: " +
		"stop pid 42 and run one gonfct run --netns a --netns b --netns c with the helpers of both (or give this engine helpers pid 42 does not serve)"
	if err.Error() != want {
		t.Errorf("got  %s\nwant %s", err, want)
	}
	// An engine's own namespace is named as the other process can name
	// it, for the one engine serves only what it is given once --netns
	// is.
	for _, c := range []struct {
		holder  registry.Entry
		ours    []string
		ownName string
		wantRun string
	}{
		{registry.Entry{PID: 42, Follows: []string{"/run/netns"}, Netns: []string{"a"}}, []string{"/proc/1/ns/net"}, "x",
			"run one gonfct run --netns-all --netns /proc/1/ns/net with"},
		{registry.Entry{PID: 42, Netns: []string{""}, Own: "/proc/1/ns/net"}, nil, "/proc/1/ns/net",
			"run one gonfct run with"},
		{registry.Entry{PID: 42, Netns: []string{""}, Own: "/proc/1/ns/net"}, []string{"b"}, "/proc/1/ns/net",
			"run one gonfct run --netns /proc/1/ns/net --netns b with"},
		{registry.Entry{PID: 42, Netns: []string{"a"}}, nil, "/proc/1/ns/net",
			"run one gonfct run --netns a --netns /proc/1/ns/net with"},
		{registry.Entry{PID: 42, Netns: []string{"", "a"}, Own: "tenant-x"}, nil, "/proc/1/ns/net",
			"run one gonfct run --netns tenant-x --netns a --netns /proc/1/ns/net with"},
		{registry.Entry{PID: 42, Netns: []string{""}}, []string{"b"}, "/proc/1/ns/net",
			"run one gonfct run --netns /proc/42/ns/net --netns b with"},
	} {
		ce.Holder = c.holder
		if got := conflictAdvice(ce, c.ours, c.ownName); !strings.Contains(got, c.wantRun) {
			t.Errorf("%+v, ours %q in %s: %s\nwant %s", c.holder, c.ours, c.ownName, got, c.wantRun)
		}
	}
}
