package helper

import (
	"bytes"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gonfct/gonfct/internal/cli"
	"github.com/gonfct/gonfct/internal/cli/clitest"
	"github.com/gonfct/gonfct/pkg/cthelper"
	"github.com/gonfct/gonfct/pkg/cthelper/engine/registry"
	"github.com/gonfct/gonfct/pkg/ctnl"
	"github.com/spf13/cobra"
)

// The commands that would disable, delete, re-point or replace a helper
// a running engine serves refuse before they reach the kernel, unless
// --force; enabling it, or a helper no engine serves, goes through.
func TestGuardRefusesServedHelpers(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "reg")
	c, err := registry.Open(dir).Register(registry.Entry{PID: 4242, Netns: []string{"tenant-a"},
		Helpers: []registry.Helper{{Name: "ftp", Family: "inet", Proto: "tcp", Queue: 5}}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Release(nil)
	errDialled := errors.New("dialled the kernel")
	env := &cli.Env{Err: &bytes.Buffer{}, Dial: func() (*ctnl.Conn, error) { return nil, errDialled }}
	cmds := map[string]func() *cobra.Command{
		"delete": func() *cobra.Command {
			return NewCmdDelete(env, func(o *DeleteOptions) error { o.Guard.RegistryDir = dir; return deleteRun(o) })
		},
		"flush": func() *cobra.Command {
			return NewCmdFlush(env, func(o *FlushOptions) error { o.Guard.RegistryDir = dir; return flushRun(o) })
		},
		"update": func() *cobra.Command {
			return NewCmdUpdate(env, func(o *UpdateOptions) error { o.Guard.RegistryDir = dir; return updateRun(o) })
		},
		"add": func() *cobra.Command {
			return NewCmdAdd(env, func(o *AddOptions) error { o.Guard.RegistryDir = dir; return addRun(o) })
		},
		"disable": func() *cobra.Command {
			return NewCmdStatus(env, cthelper.Disabled, func(o *StatusOptions) error { o.Guard.RegistryDir = dir; return statusRun(o) })
		},
	}
	const refusal = "helper ftp inet tcp is served by gonfct run, pid 4242 in namespace tenant-a: its traffic would pass un-helped: " +
		"stop that engine first (it disables its helpers when it exits), or give --force"
	for _, c := range []struct {
		cmd     string
		args    []string
		refused bool
	}{
		{"delete", []string{"ftp"}, true},
		{"delete", []string{"ftp", "inet", "tcp"}, true},
		{"delete", []string{"ftp", "inet6"}, false},
		{"delete", []string{"tftp"}, false},
		{"delete", []string{"ftp", "--force"}, false},
		{"flush", nil, true},
		{"flush", []string{"--force"}, false},
		{"update", []string{"ftp", "inet", "tcp", "--queue", "7"}, true},
		{"update", []string{"ftp", "inet", "tcp", "--status", "disabled"}, true},
		{"update", []string{"ftp", "inet", "tcp", "--status", "enabled"}, false},
		{"update", []string{"ftp", "inet", "tcp", "--queue", "7", "--force"}, false},
		{"add", []string{"ftp", "inet", "tcp", "--replace"}, true},
		{"add", []string{"ftp", "inet", "tcp"}, false}, // the kernel says it exists
		{"disable", []string{"ftp", "inet", "tcp"}, true},
		{"disable", []string{"ftp", "inet", "tcp", "--force"}, false},
	} {
		err := clitest.Execute(t, cmds[c.cmd](), c.args...)
		if c.refused {
			if err == nil || err.Error() != refusal || cli.ExitCode(err) != cli.ExitRuntime {
				t.Errorf("%s %q: %v (exit %d), want the refusal", c.cmd, c.args, err, cli.ExitCode(err))
			}
		} else if !errors.Is(err, errDialled) {
			t.Errorf("%s %q: %v, want it to reach the kernel", c.cmd, c.args, err)
		}
	}
	if strings.Contains(env.Err.(*bytes.Buffer).String(), "warning") {
		t.Errorf("stderr: %s", env.Err)
	}
}
