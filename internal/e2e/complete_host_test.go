//go:build hosttest

package e2e

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"github.com/gonfct/gonfct/internal/nstest"
)

// completeIn is cobra's __complete for a gonfct command line in ns.
func completeIn(t *testing.T, ns *nstest.NS, words ...string) []string {
	t.Helper()
	var out, errb bytes.Buffer
	if code := run(append([]string{"__complete", "--netns", ns.Name}, words...), strings.NewReader(""), &out, &errb); code != 0 {
		t.Fatalf("__complete %q: exit %d, %s", words, code, errb.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	return lines[:len(lines)-1] // the last is cobra's directive
}

// Names that live in the kernel complete from the kernel, in the
// namespace --netns names: timeout policies here (cttimeout); the
// namespaces themselves from /run/netns.
func TestCompletionFromKernel(t *testing.T) {
	ns := nstest.New(t)
	mustCtCLI(t, ns, "", "timeout", "add", "web-long", "inet", "tcp", "established", "1h")
	mustCtCLI(t, ns, "", "timeout", "add", "dns-short", "inet", "udp", "unreplied", "5s")
	for _, verb := range []string{"get", "delete", "update"} {
		got := completeIn(t, ns, "timeout", verb, "")
		if !slices.Contains(got, "web-long") || !slices.Contains(got, "dns-short") {
			t.Errorf("timeout %s: offered %q, want the namespace's policies", verb, got)
		}
	}
	if got := completeIn(t, ns, "ct", "list", "--netns", ""); !slices.Contains(got, ns.Name) {
		t.Errorf("--netns: offered %q, want %s", got, ns.Name)
	}
}
