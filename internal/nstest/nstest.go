// Package nstest gives tests a fresh network namespace of their own on the
// running kernel, removed when the test ends. Tests that use it need root.
package nstest

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/gonfct/gonfct/pkg/ctnl"
)

// NS is a named network namespace (under /run/netns) made for one test.
type NS struct {
	Name    string
	t       testing.TB
	deleted bool
}

// New makes a namespace with lo up and conntrack events enabled for every
// conntrack (nf_conntrack_events=1: with the default 2 a conntrack made while
// nobody listened never reports its expectations), and removes it at the
// end of the test. It fails the test when not root: tests that use it are
// in the host tier, which runs as root.
func New(t testing.TB) *NS {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("host network-namespace tests need root: run them with `make hosttest` as root")
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	ns := &NS{Name: "gonfct-t-" + hex.EncodeToString(b), t: t}
	if out, err := exec.Command("ip", "netns", "add", ns.Name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v: %s", ns.Name, err, out)
	}
	t.Cleanup(func() {
		if ns.deleted {
			return
		}
		if out, err := exec.Command("ip", "netns", "del", ns.Name).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v: %s", ns.Name, err, out)
		}
	})
	ns.MustRun("ip", "link", "set", "lo", "up")
	// nf_conntrack's per-netns sysctls appear once conntrack is used there;
	// reading the table makes sure it is.
	ns.Run("conntrack", "-C")
	ns.Run("sysctl", "-qw", "net.netfilter.nf_conntrack_events=1")
	return ns
}

// Delete removes the namespace before the end of the test, as an
// operator would (`ip netns del`), for tests of what follows a deletion.
func (ns *NS) Delete() {
	ns.t.Helper()
	if out, err := exec.Command("ip", "netns", "del", ns.Name).CombinedOutput(); err != nil {
		ns.t.Fatalf("ip netns del %s: %v: %s", ns.Name, err, out)
	}
	ns.deleted = true
}

// Path is the namespace's file, for ctnl.DialOptions.NetNS.
func (ns *NS) Path() string { return "/run/netns/" + ns.Name }

// Dial opens a netfilter socket inside the namespace.
func (ns *NS) Dial() *ctnl.Conn {
	ns.t.Helper()
	c, err := ctnl.Dial(ctnl.DialOptions{NetNS: ns.Name})
	if err != nil {
		ns.t.Fatalf("dial in %s: %v", ns.Name, err)
	}
	ns.t.Cleanup(func() { c.Close() })
	return c
}

// Run runs a command inside the namespace and returns its combined output
// and error.
func (ns *NS) Run(name string, args ...string) (string, error) {
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns.Name, name}, args...)...)
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	err := cmd.Run()
	return buf.String(), err
}

// MustRun runs a command inside the namespace and fails the test if it
// fails.
func (ns *NS) MustRun(name string, args ...string) string {
	ns.t.Helper()
	out, err := ns.Run(name, args...)
	if err != nil {
		ns.t.Fatalf("%s %s in %s: %v\n%s", name, strings.Join(args, " "), ns.Name, err, out)
	}
	return out
}
