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

// docs/examples together: firewall-boot.sh (run twice: it must be
// re-runnable) makes the helper objects and a drop-by-default firewall on
// the FTP server; passive FTP fails until `gonfct run --config
// docs/examples/helpers.conf` serves the queues the script named.
func TestExamplesFirewallBootVM(t *testing.T) {
	ownHelpers(t)
	flushWhenFree(t)
	t.Cleanup(func() { gonfct(t, "helper", "flush") })
	p := newFTPPair(t)
	t.Cleanup(func() { p.srv.Run("nft", "flush", "ruleset") })
	for i := 0; i < 2; i++ {
		if out, err := p.srv.Run("env", "GONFCT=../../bin/gonfct", "sh", "../../docs/examples/firewall-boot.sh"); err != nil {
			t.Fatalf("firewall-boot.sh (run %d): %v\n%s", i+1, err, out)
		}
	}
	list := mustGonfct(t, "helper", "list")
	for _, want := range []string{"ftp inet tcp queue=1 disabled", "ftp inet6 tcp queue=2 disabled"} {
		if !strings.Contains(list, want) {
			t.Errorf("after firewall-boot.sh: helper list lacks %q:\n%s", want, list)
		}
	}
	ruleset := p.srv.MustRun("nft", "list", "ruleset")
	if strings.Count(ruleset, `ct helper set "ftp-tcp"`) != 2 || !strings.Contains(ruleset, "policy drop") {
		t.Errorf("ruleset after firewall-boot.sh:\n%s", ruleset)
	}
	if out, err := p.fetch(false); err == nil {
		t.Fatalf("passive FTP passed before gonfct run: %s", out)
	}

	cmd := exec.Command("ip", "netns", "exec", p.srv.Name, "../../bin/gonfct", "run", "--config", "../../docs/examples/helpers.conf", "--log-level", "warn")
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() })
	for i := 0; i < 600; i++ { // up to a minute on a busy host
		if out, _, _ := gonfct(t, "helper", "get", "ftp", "inet", "tcp"); strings.Contains(out, "queue=1 enabled") {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if out := mustGonfct(t, "helper", "get", "ftp", "inet", "tcp"); !strings.Contains(out, "queue=1 enabled") || !strings.Contains(out, "policy=ftp:2:120") {
		t.Fatalf("gonfct run --config helpers.conf: %s", out)
	}
	if out, err := p.fetch(false); err != nil || !strings.Contains(out, "hello via gonfct rules") {
		t.Fatalf("passive FTP with gonfct run: %v: %s", err, out)
	}
}
