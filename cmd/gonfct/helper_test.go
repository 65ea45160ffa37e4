package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/gonfct/gonfct/internal/cli"
	"github.com/gonfct/gonfct/pkg/cthelper"
	"github.com/google/go-cmp/cmp"
	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"
)

// execute runs one command built by mk with args, returning the error.
func execute(t *testing.T, cmd *cobra.Command, args ...string) error {
	t.Helper()
	cmd.SetArgs(args)
	cmd.SetOut(&bytes.Buffer{})
	cmd.SetErr(&bytes.Buffer{})
	cmd.SilenceErrors, cmd.SilenceUsage = true, true
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return cli.Usage(err) })
	return cmd.Execute()
}

func TestHelperAddParsing(t *testing.T) {
	tests := []struct {
		args    []string
		want    cthelper.Helper
		replace bool
		usage   string
	}{
		{args: []string{"rpc", "inet", "tcp"},
			want: cthelper.Helper{Name: "rpc", Family: unix.AF_INET, Proto: unix.IPPROTO_TCP, PrivLen: 16,
				Policies: []cthelper.Policy{{Name: "rpc", ExpectMax: 1, ExpectTimeout: 300}}}},
		{args: []string{"rpc", "inet", "udp", "--queue", "2", "--policy", "rpc:1:300"},
			want: cthelper.Helper{Name: "rpc", Family: unix.AF_INET, Proto: unix.IPPROTO_UDP, QueueNum: 2, PrivLen: 16,
				Policies: []cthelper.Policy{{Name: "rpc", ExpectMax: 1, ExpectTimeout: 300}}}},
		{args: []string{"steam", "inet", "udp", "--queue", "7", "--policy", "steam:8:30", "--priv-len", "0"},
			want: cthelper.Helper{Name: "steam", Family: unix.AF_INET, Proto: unix.IPPROTO_UDP, QueueNum: 7,
				Policies: []cthelper.Policy{{Name: "steam", ExpectMax: 8, ExpectTimeout: 30}}}},
		// A policy with only some fields keeps the defaults of the others.
		{args: []string{"ftp", "inet6", "tcp", "--policy", "ftp:2", "--enable", "--replace"},
			want: cthelper.Helper{Name: "ftp", Family: unix.AF_INET6, Proto: unix.IPPROTO_TCP, PrivLen: 24, Status: cthelper.Enabled,
				Policies: []cthelper.Policy{{Name: "ftp", ExpectMax: 2, ExpectTimeout: 300}}}, replace: true},
		{args: []string{"ftp", "inet", "tcp", "--policy", "ftp::60"},
			want: cthelper.Helper{Name: "ftp", Family: unix.AF_INET, Proto: unix.IPPROTO_TCP, PrivLen: 24,
				Policies: []cthelper.Policy{{Name: "ftp", ExpectMax: 1, ExpectTimeout: 60}}}},
		{args: []string{"a-name-of-16byte", "inet", "tcp", "--policy", "x:1:1"}, usage: "at most 15"},
		{args: []string{"steam", "inet", "udp"}, usage: "no built-in defaults"},
		{args: []string{"steam", "inet", "udp", "--policy", "steam:8"}, usage: "has no default"},
		{args: []string{"ftp", "inet", "tcp", "--policy", "ftp:256:1"}, usage: "0 to 255"},
		{args: []string{"x", "inet", "tcp", "--policy", "a:1:1", "--policy", "b:1:1", "--policy", "c:1:1", "--policy", "d:1:1", "--policy", "e:1:1"}, usage: "at most 4"},
		{args: []string{"ftp", "inet", "tcp", "--priv-len", "33"}, usage: "0 to 32"},
		{args: []string{"ftp", "ipx", "tcp"}, usage: "unknown family"},
		{args: []string{"ftp", "inet", "icmp"}, usage: "tcp or udp"},
		{args: []string{"ftp", "inet", "udp"}, usage: "does not exist for inet udp"},
		{args: []string{"dhcpv6", "inet", "udp"}, usage: "does not exist"},
		{args: []string{"ftp", "inet"}, usage: "takes 3 argument"},
		{args: []string{"ftp", "inet", "tcp", "--queue", "x"}, usage: "invalid argument"},
	}
	for _, tt := range tests {
		var got *helperAddOptions
		cmd := newCmdHelperAdd(&cli.Env{}, func(o *helperAddOptions) error { got = o; return nil })
		err := execute(t, cmd, tt.args...)
		if tt.usage != "" {
			if cli.ExitCode(err) != cli.ExitUsage || !strings.Contains(err.Error(), tt.usage) {
				t.Errorf("%q: error %v (exit %d), want usage error with %q", tt.args, err, cli.ExitCode(err), tt.usage)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tt.args, err)
			continue
		}
		if d := cmp.Diff(tt.want, got.Helper); d != "" || got.Replace != tt.replace {
			t.Errorf("%q: (-want +got)\n%s replace=%v", tt.args, d, got.Replace)
		}
	}
}

func TestHelperUpdateParsing(t *testing.T) {
	var got *helperUpdateOptions
	cmd := newCmdHelperUpdate(&cli.Env{}, func(o *helperUpdateOptions) error { got = o; return nil })
	if err := execute(t, cmd, "ftp", "inet", "tcp", "--policy", "ftp:2:120", "--queue", "5", "--status", "enabled"); err != nil {
		t.Fatal(err)
	}
	if *got.Update.QueueNum != 5 || *got.Update.Status != cthelper.Enabled || got.Update.Policies[0] != (cthelper.Policy{Name: "ftp", ExpectMax: 2, ExpectTimeout: 120}) {
		t.Fatalf("update options %+v", got.Update)
	}
	cmd = newCmdHelperUpdate(&cli.Env{}, func(o *helperUpdateOptions) error { return nil })
	if err := execute(t, cmd, "ftp", "inet", "tcp"); cli.ExitCode(err) != cli.ExitUsage {
		t.Fatalf("update with nothing to change: %v", err)
	}
}

func TestHelperGetDeleteParsing(t *testing.T) {
	for _, args := range [][]string{{"ftp"}, {"ftp", "inet"}, {"ftp", "inet6", "tcp"}} {
		var got *helperListOptions
		cmd := newCmdHelperDelete(&cli.Env{}, func(o *helperListOptions) error { got = o; return nil })
		if err := execute(t, cmd, args...); err != nil {
			t.Fatalf("%q: %v", args, err)
		}
		if got.Key.Name != "ftp" || (len(args) > 1) != (got.Key.Family != 0) || (len(args) > 2) != (got.Key.Proto != 0) {
			t.Fatalf("%q: key %+v", args, got.Key)
		}
	}
}

func TestNfctWordOrder(t *testing.T) {
	for in, want := range map[string]string{
		"add helper rpc inet udp":          "helper add rpc inet udp",
		"--netns x delete helper ftp":      "--netns x helper delete ftp",
		"-o json list timeout":             "-o json timeout list",
		"helper add rpc inet udp":          "helper add rpc inet udp",
		"expect list":                      "expect list",
		"default-get timeout inet tcp":     "timeout default-get inet tcp",
		"--netns=x add timeout t inet tcp": "--netns=x timeout add t inet tcp",
	} {
		if got := strings.Join(nfctOrder(strings.Fields(in)), " "); got != want {
			t.Errorf("nfctOrder(%q) = %q, want %q", in, got, want)
		}
	}
}

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
