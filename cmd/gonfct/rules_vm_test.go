//go:build vmtest

package main

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/gonfct/gonfct/internal/nstest"
)

// pipe runs a command inside ns with stdin.
func nsPipe(t *testing.T, ns *nstest.NS, stdin string, name string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns.Name, name}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// checkTrafficHelped sends one UDP datagram to port 69 and makes one TCP
// connection to port 21 from inside ns and returns `conntrack -L` there: the
// rules under test must have attached the helpers to both conntracks.
func checkTrafficHelped(t *testing.T, ns *nstest.NS, what string) {
	t.Helper()
	ns.Run("conntrack", "-F")
	ns.MustRun("bash", "-c", `echo x > /dev/udp/127.0.0.1/69
python3 -c 'import socket,time
s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("127.0.0.1", 21)); s.listen()
c, _ = s.accept(); time.sleep(1)' & srv=$!
for i in $(seq 50); do exec 3<>/dev/tcp/127.0.0.1/21 2>/dev/null && break; sleep 0.1; done
wait $srv`)
	out := ns.MustRun("conntrack", "-L")
	for _, want := range []string{"dport=69", "helper=tftp", "dport=21", "helper=ftp"} {
		if !strings.Contains(out, want) {
			t.Errorf("%s: conntrack -L lacks %q:\n%s", what, want, out)
		}
	}
}

func kernelModuleLoaded(name string) bool {
	b, _ := os.ReadFile("/proc/modules")
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, name+" ") {
			return true
		}
	}
	return false
}

// The rules `gonfct rules` prints load into nft and iptables on Debian's
// 6.1 kernel with gonfct's user-space helpers, reload without duplicates,
// pin the helpers (delete is refused while loaded) and attach them to real
// connections.
func TestRulesLoadVM(t *testing.T) {
	mustGonfct(t, "helper", "flush")
	t.Cleanup(func() { gonfct(t, "helper", "flush") })
	ns := nstest.New(t)

	// Without the helpers in the kernel the nft objects cannot be made.
	if out, err := nsPipe(t, ns, mustGonfct(t, "rules", "rpc"), "nft", "-f", "-"); err == nil {
		t.Fatalf("nft loaded ct helper rpc with no rpc helper in the kernel:\n%s", out)
	}

	for _, h := range [][]string{
		{"ftp", "inet", "tcp"}, {"ftp", "inet6", "tcp"},
		{"rpc", "inet", "tcp"}, {"rpc", "inet6", "tcp"}, {"rpc", "inet", "udp"}, {"rpc", "inet6", "udp"},
		{"tftp", "inet", "udp"}, {"tftp", "inet6", "udp"}, {"dhcpv6", "inet6", "udp"},
	} {
		mustGonfct(t, append([]string{"helper", "add"}, h...)...)
	}

	for _, args := range [][]string{
		{"rules", "ftp", "rpc", "tftp", "dhcpv6"},
		{"rules", "ftp:21,2121", "rpc/udp", "tftp", "dhcpv6", "--nat"},
		{"rules", "ftp", "tftp", "--family", "inet", "--table", "fw"},
	} {
		script := mustGonfct(t, args...)
		table := "inet gonfct"
		if strings.Contains(script, "table ip fw") {
			table = "ip fw"
		}
		for i := 0; i < 2; i++ { // the second load replaces the first
			if out, err := nsPipe(t, ns, script, "nft", "-f", "-"); err != nil {
				t.Fatalf("%q | nft -f -: %v\n%s\nscript:\n%s", args, err, out, script)
			}
		}
		listing := ns.MustRun("nft", "list", "table", strings.Fields(table)[0], strings.Fields(table)[1])
		if n := strings.Count(listing, `ct helper set "ftp-tcp"`); n != 2 {
			t.Errorf("%q: %d ftp rules after two loads, want 2 (prerouting, output):\n%s", args, n, listing)
		}
		if strings.Contains(strings.Join(args, " "), "--nat") && !strings.Contains(listing, "priority mangle") {
			t.Errorf("%q: chains not at priority mangle (-150):\n%s", args, listing)
		}
		checkTrafficHelped(t, ns, strings.Join(args, " "))

		// The ruleset holds gonfct's helpers, not the kernel's own.
		if _, errw, code := gonfct(t, "helper", "delete", "ftp", "inet", "tcp"); code != 1 || !strings.Contains(errw, "in use by a ruleset") {
			t.Errorf("%q: delete of ftp while the rules are loaded: exit %d, %q", args, code, errw)
		}
		ns.MustRun("nft", "delete", "table", strings.Fields(table)[0], strings.Fields(table)[1])
	}
	if kernelModuleLoaded("nf_conntrack_ftp") || kernelModuleLoaded("nf_conntrack_tftp") {
		t.Error("loading the rules loaded the kernel's ftp/tftp helper instead of using gonfct's")
	}

	// iptables: the plain lines, then the re-runnable chain form twice.
	script := mustGonfct(t, "rules", "ftp", "tftp", "--iptables")
	if out, err := nsPipe(t, ns, script, "sh", "-e"); err != nil {
		t.Fatalf("rules --iptables | sh: %v\n%s\nscript:\n%s", err, out, script)
	}
	for _, cmd := range []string{"iptables-save", "ip6tables-save"} {
		if out := ns.MustRun(cmd, "-t", "raw"); strings.Count(out, "-j CT --helper ftp") != 2 || strings.Count(out, "-j CT --helper tftp") != 2 {
			t.Errorf("%s after rules --iptables:\n%s", cmd, out)
		}
	}
	checkTrafficHelped(t, ns, "iptables")
	ns.MustRun("iptables", "-t", "raw", "-F")
	ns.MustRun("ip6tables", "-t", "raw", "-F")

	script = mustGonfct(t, "rules", "ftp", "tftp", "--iptables", "--chain", "HELPERS", "--nat")
	for i := 0; i < 2; i++ {
		if out, err := nsPipe(t, ns, script, "sh", "-e"); err != nil {
			t.Fatalf("rules --iptables --chain | sh: %v\n%s\nscript:\n%s", err, out, script)
		}
	}
	out := ns.MustRun("iptables-save", "-t", "raw")
	if strings.Count(out, "-j CT --helper ftp") != 1 || strings.Count(out, "-j HELPERS") != 2 {
		t.Errorf("iptables-save after running the --chain lines twice:\n%s", out)
	}
	checkTrafficHelped(t, ns, "iptables --chain")
	if _, errw, code := gonfct(t, "helper", "delete", "tftp", "inet", "udp"); code != 1 || !strings.Contains(errw, "in use by a ruleset") {
		t.Errorf("delete of tftp while iptables rules are loaded: exit %d, %q", code, errw)
	}
	ns.MustRun("iptables", "-t", "raw", "-F")
	ns.MustRun("iptables", "-t", "raw", "-X")
	ns.MustRun("ip6tables", "-t", "raw", "-F")
	ns.MustRun("ip6tables", "-t", "raw", "-X")
}
