package helper

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gonfct/gonfct/internal/cli"
	"github.com/gonfct/gonfct/pkg/cthelper"
	"github.com/gonfct/gonfct/pkg/cthelper/engine/registry"
	"golang.org/x/sys/unix"
)

// A listing names the engine serving a helper, from the host's registry.
func TestListingNamesTheEngine(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "reg")
	c, err := registry.Open(dir).Register(registry.Entry{PID: 4242, Netns: []string{"", "tenant-a"}, Own: "/proc/1/ns/net",
		Helpers: []registry.Helper{{Name: "ftp", Family: "inet", Proto: "tcp", Queue: 5}}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Release(nil)
	env := &cli.Env{Err: &bytes.Buffer{}}
	engines := runningEngines(env, dir)
	ftp := cthelper.Helper{Name: "ftp", Family: unix.AF_INET, Proto: unix.IPPROTO_TCP, QueueNum: 5, PrivLen: 24,
		Policies: []cthelper.Policy{{Name: "ftp", ExpectMax: 1, ExpectTimeout: 300}}, Status: cthelper.Enabled}
	r := newRecord(ftp)
	r.ServedBy = engineServing(engines, ftp)
	if got, want := string(r.AppendText(nil)), "ftp inet tcp queue=5 enabled priv-len=24 policy=ftp:1:300 engine=pid:4242 netns=/proc/1/ns/net,tenant-a\n"; got != want {
		t.Errorf("text %q, want %q", got, want)
	}
	ftp.Family = unix.AF_INET6
	if s := engineServing(engines, ftp); s != nil || newRecord(ftp).Row()[7] != "-" {
		t.Errorf("ftp inet6 served by %+v", s)
	}
	if runningEngines(env, filepath.Join(dir, "absent")) != nil || env.Err.(*bytes.Buffer).Len() != 0 {
		t.Errorf("no registry: %s", env.Err)
	}
	if !strings.Contains(r.Row()[7], "pid:4242") {
		t.Errorf("row %q", r.Row())
	}
}
