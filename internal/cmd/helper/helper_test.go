package helper

import (
	"strings"
	"testing"

	"github.com/gonfct/gonfct/internal/cli"
	"github.com/gonfct/gonfct/internal/cli/clitest"
	"github.com/gonfct/gonfct/pkg/cthelper"
	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

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
		{args: []string{"ftp", "inet", "tcp", "--policy", "ftp::1m"},
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
		{args: []string{"ftp", "inet", "tcp", "--queue", "x"}, usage: "want a whole number"},
	}
	for _, tt := range tests {
		var got *AddOptions
		cmd := NewCmdAdd(&cli.Env{}, func(o *AddOptions) error { got = o; return nil })
		err := clitest.Execute(t, cmd, tt.args...)
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
	var got *UpdateOptions
	cmd := NewCmdUpdate(&cli.Env{}, func(o *UpdateOptions) error { got = o; return nil })
	if err := clitest.Execute(t, cmd, "ftp", "inet", "tcp", "--policy", "ftp:2:120", "--queue", "5", "--status", "enabled"); err != nil {
		t.Fatal(err)
	}
	if *got.Update.QueueNum != 5 || *got.Update.Status != cthelper.Enabled || got.Update.Policies[0] != (cthelper.Policy{Name: "ftp", ExpectMax: 2, ExpectTimeout: 120}) {
		t.Fatalf("update options %+v", got.Update)
	}
	cmd = NewCmdUpdate(&cli.Env{}, func(o *UpdateOptions) error { return nil })
	if err := clitest.Execute(t, cmd, "ftp", "inet", "tcp"); cli.ExitCode(err) != cli.ExitUsage {
		t.Fatalf("update with nothing to change: %v", err)
	}
}

func TestHelperGetDeleteParsing(t *testing.T) {
	for _, args := range [][]string{{"ftp"}, {"ftp", "inet"}, {"ftp", "inet6", "tcp"}} {
		var deleted, got key
		del := NewCmdDelete(&cli.Env{}, func(o *DeleteOptions) error { deleted = o.Key; return nil })
		get := NewCmdGet(&cli.Env{}, func(o *ListOptions) error { got = *o.Key; return nil })
		if err := clitest.Execute(t, del, args...); err != nil {
			t.Fatalf("delete %q: %v", args, err)
		}
		if err := clitest.Execute(t, get, args...); err != nil {
			t.Fatalf("get %q: %v", args, err)
		}
		for _, k := range []key{deleted, got} {
			if k.Name != "ftp" || (len(args) > 1) != (k.Family != 0) || (len(args) > 2) != (k.Proto != 0) {
				t.Fatalf("%q: key %+v", args, k)
			}
		}
	}
}
