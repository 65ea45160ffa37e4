//go:build vmtest

package e2e

import (
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// asUnitUser runs bin/gonfct as docs/examples/gonfct.service does: an
// unprivileged user (nobody, standing in for DynamicUser) with
// CAP_NET_ADMIN as its only capability, ambient, bounding set reduced to
// it, no new privileges. caps "" runs it with no capability at all.
func asUnitUser(t *testing.T, caps string, args ...string) (string, error) {
	t.Helper()
	bin := "../../bin/gonfct"
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("%s: %v (make vmtest builds it)", bin, err)
	}
	set := "-all"
	if caps != "" {
		set = "-all,+" + caps
	}
	cmd := exec.Command("setpriv", append([]string{"--reuid=65534", "--regid=65534", "--clear-groups",
		"--inh-caps=" + set, "--ambient-caps=" + set, "--bounding-set=" + set, "--no-new-privs", "--", bin}, args...)...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// The systemd unit grants CAP_NET_ADMIN and nothing else: that is enough
// to manage helper objects, and without it gonfct says what is missing.
func TestUnitPrivilegesVM(t *testing.T) {
	ownHelpers(t)
	mustGonfct(t, "helper", "flush")
	t.Cleanup(func() { gonfct(t, "helper", "flush") })

	if out, err := asUnitUser(t, "net_admin", "helper", "add", "ftp", "inet", "tcp", "--queue", "3"); err != nil {
		t.Fatalf("helper add with CAP_NET_ADMIN only: %v\n%s", err, out)
	}
	if out, err := asUnitUser(t, "net_admin", "helper", "list"); err != nil || !strings.Contains(out, "ftp inet tcp queue=3") {
		t.Fatalf("helper list with CAP_NET_ADMIN only: %v\n%s", err, out)
	}
	out, err := asUnitUser(t, "", "helper", "add", "tftp", "inet", "udp")
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !strings.Contains(out, "CAP_NET_ADMIN") {
		t.Fatalf("helper add without capabilities: %v\n%s", err, out)
	}
}

// The engine itself runs with the unit's privileges: it binds its queue
// and enables its helper as an unprivileged user with CAP_NET_ADMIN only.
func TestUnitPrivilegesRunVM(t *testing.T) {
	ownHelpers(t)
	mustGonfct(t, "helper", "flush")
	t.Cleanup(func() { gonfct(t, "helper", "flush") })
	// ExecStartPre: the check passes with the same privileges.
	if out, err := asUnitUser(t, "net_admin", "run", "--helper", "ftp:inet:tcp:queue=11", "--check"); err != nil {
		t.Fatalf("gonfct run --check with CAP_NET_ADMIN only: %v\n%s", err, out)
	}
	// The engine registers in /run/gonfct: where its user cannot write,
	// it says so and touches nothing; the unit's RuntimeDirectory=gonfct
	// gives the directory to the unit's user.
	if err := os.MkdirAll("/run/gonfct", 0o755); err != nil {
		t.Fatal(err)
	}
	os.Chown("/run/gonfct", 0, 0)
	out0, err := asUnitUser(t, "net_admin", "run", "--helper", "ftp:inet:tcp:queue=11")
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !strings.Contains(out0, "RuntimeDirectory=gonfct") ||
		strings.Count(out0, "\n") != 1 {
		t.Errorf("gonfct run without a writable registry: %v\n%s", err, out0)
	}
	if o, _, _ := gonfct(t, "helper", "list"); strings.Contains(o, "ftp") {
		t.Errorf("a refused start left a helper: %s", o)
	}
	os.Chown("/run/gonfct", 65534, 65534)
	t.Cleanup(func() { os.Chown("/run/gonfct", 0, 0) })
	cmd := exec.Command("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
		"--inh-caps=-all,+net_admin", "--ambient-caps=-all,+net_admin", "--bounding-set=-all,+net_admin", "--no-new-privs",
		"--", "../../bin/gonfct", "run", "--helper", "ftp:inet:tcp:queue=11")
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	enabled := false
	for i := 0; i < 600 && !enabled; i++ { // up to a minute on a busy host
		o, _, _ := gonfct(t, "helper", "get", "ftp", "inet", "tcp")
		enabled = strings.Contains(o, "queue=11 enabled")
		time.Sleep(100 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	err = cmd.Wait()
	if !enabled || err != nil {
		t.Fatalf("gonfct run with CAP_NET_ADMIN only: enabled=%v, exit %v\n%s", enabled, err, out.String())
	}
	if o, _, _ := gonfct(t, "helper", "get", "ftp", "inet", "tcp"); !strings.Contains(o, "disabled") {
		t.Errorf("after SIGTERM the helper is %q, want disabled", o)
	}
}
