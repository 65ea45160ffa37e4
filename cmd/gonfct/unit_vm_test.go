//go:build vmtest

package main

import (
	"os"
	"os/exec"
	"strings"
	"testing"
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
