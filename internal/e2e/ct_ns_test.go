//go:build hosttest || vmtest

package e2e

import (
	"bytes"
	"strconv"
	"strings"
	"testing"

	"github.com/gonfct/gonfct/internal/nstest"
)

type ctResult struct {
	out, err string
	code     int
}

// ctCLI runs the real command line in the test's namespace.
func ctCLI(t *testing.T, ns *nstest.NS, stdin string, args ...string) ctResult {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(append([]string{"--netns", ns.Name}, args...), strings.NewReader(stdin), &out, &errb)
	return ctResult{out.String(), errb.String(), code}
}

func mustCtCLI(t *testing.T, ns *nstest.NS, stdin string, args ...string) ctResult {
	t.Helper()
	r := ctCLI(t, ns, stdin, args...)
	if r.code != 0 {
		t.Fatalf("gonfct %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.out, r.err)
	}
	return r
}

func ctCount(t *testing.T, ns *nstest.NS) int {
	t.Helper()
	out := strings.TrimSpace(ns.MustRun("conntrack", "-C"))
	n, err := strconv.Atoi(out)
	if err != nil {
		t.Fatalf("conntrack -C: %q", out)
	}
	return n
}
