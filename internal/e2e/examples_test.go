package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The systemd unit in docs/examples passes `systemd-analyze verify` with no
// warning: its ExecStart binary (a stand-in at a temporary path) and the
// man pages it names (from docs/man) exist, and every setting is known.
func TestSystemdUnitVerifies(t *testing.T) {
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		t.Fatal("systemd-analyze not found: install systemd (scripts/deps)")
	}
	unit, err := os.ReadFile("../../docs/examples/gonfct.service")
	if err != nil {
		t.Fatal(err)
	}
	const bin = "/usr/local/bin/gonfct"
	if !strings.Contains(string(unit), "ExecStart="+bin+" run ") {
		t.Fatalf("the unit does not start %s run", bin)
	}
	dir := t.TempDir()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	stand := filepath.Join(dir, "gonfct")
	if err := os.Symlink(self, stand); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "gonfct.service")
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(string(unit), bin, stand)), 0o644); err != nil {
		t.Fatal(err)
	}
	man := filepath.Join(dir, "man", "man8")
	if err := os.MkdirAll(man, 0o755); err != nil {
		t.Fatal(err)
	}
	pages, _ := filepath.Glob("../../docs/man/*.8")
	for _, p := range pages {
		b, _ := os.ReadFile(p)
		os.WriteFile(filepath.Join(man, filepath.Base(p)), b, 0o644)
	}
	cmd := exec.Command("systemd-analyze", "verify", path)
	cmd.Env = append(os.Environ(), "MANPATH="+filepath.Join(dir, "man"), "SYSTEMD_LOG_COLOR=0")
	out, err := cmd.CombinedOutput()
	if err != nil || len(out) != 0 {
		t.Errorf("systemd-analyze verify docs/examples/gonfct.service: %v\n%s", err, out)
	}
	for _, want := range []string{"Type=notify", "Restart=on-failure", "CapabilityBoundingSet=CAP_NET_ADMIN\n", "AmbientCapabilities=CAP_NET_ADMIN\n", "NoNewPrivileges=yes", "ProtectSystem=strict", "ExecReload=/bin/kill -HUP $MAINPID"} {
		if !strings.Contains(string(unit), want) {
			t.Errorf("the unit lacks %q", want)
		}
	}
}

// docs/failover.md quotes the HA test's configuration files unchanged, so
// what an admin copies is what the VM test runs.
func TestFailoverDocQuotesTestedFiles(t *testing.T) {
	doc, err := os.ReadFile("../../docs/failover.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"firewall.nft", "firewall-nat.nft", "conntrackd-fw1.conf", "keepalived-fw1.conf", "notify-conntrackd.sh", "notify-ctsave.sh"} {
		b, err := os.ReadFile(filepath.Join("testdata/ha", name))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(doc), "```\n"+string(b)+"```\n") && !strings.Contains(string(doc), "```sh\n"+string(b)+"```\n") {
			t.Errorf("docs/failover.md does not quote testdata/ha/%s as it is", name)
		}
	}
}
