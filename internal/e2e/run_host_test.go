//go:build hosttest

package e2e

import (
	"bytes"
	"strings"
	"testing"

	"github.com/gonfct/gonfct/internal/nstest"
)

// `gonfct run --check` on this machine's kernel, which lacks
// nfnetlink_cthelper and the NFQUEUE conntrack glue and has the kernel's
// own ftp helper built in: it names each missing piece and its fix, exits
// 1, and leaves no queue bound.
func TestRunCheckOnThisKernel(t *testing.T) {
	ns := nstest.New(t)
	var out, errw bytes.Buffer
	code := run([]string{"--netns", ns.Name, "run", "--helper", "ftp:inet:tcp:queue=5", "--check"}, nil, &out, &errw)
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s%s", code, out.String(), errw.String())
	}
	text := out.String()
	for _, want := range []string{
		"ok      configuration: 1 helper(s) on 1 queue(s)",
		"ok      netfilter netlink socket",
		"MISSING nfnetlink_cthelper",
		"modprobe nfnetlink_cthelper",
		"ok      ctnetlink expectations",
		"MISSING helper ftp inet tcp: kernel helper nf_conntrack_ftp",
		"MISSING queue 5 with conntrack glue in namespace " + ns.Name + " (for ftp)",
		"CONFIG_NETFILTER_NETLINK_GLUE_CT",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("--check output lacks %q:\n%s", want, text)
		}
	}
	if !strings.Contains(errw.String(), "problem(s) found") || strings.Count(errw.String(), "\n") != 1 {
		t.Errorf("stderr %q, want one line", errw.String())
	}
	if q := ns.MustRun("cat", "/proc/net/netfilter/nfnetlink_queue"); strings.TrimSpace(q) != "" {
		t.Errorf("--check left a queue bound: %q", q)
	}
	// JSON for scripts.
	out.Reset()
	run([]string{"--netns", ns.Name, "-o", "json", "run", "--helper", "ftp:inet:tcp:queue=5", "--check"}, nil, &out, &errw)
	if !strings.Contains(out.String(), `"ok":false`) || !strings.Contains(out.String(), `"what":"nfnetlink_cthelper`) {
		t.Errorf("json output:\n%s", out.String())
	}
}

// `gonfct run` itself on this kernel fails at the first step with the
// reason, exit 1, and leaves nothing bound.
func TestRunWithoutGlue(t *testing.T) {
	ns := nstest.New(t)
	var out, errw bytes.Buffer
	code := run([]string{"--netns", ns.Name, "run", "--helper", "ftp:inet:tcp:queue=5"}, nil, &out, &errw)
	if code != 1 || !strings.Contains(errw.String(), "CONFIG_NETFILTER_NETLINK_GLUE_CT") {
		t.Fatalf("exit %d, stderr %q", code, errw.String())
	}
	if q := ns.MustRun("cat", "/proc/net/netfilter/nfnetlink_queue"); strings.TrimSpace(q) != "" {
		t.Errorf("a queue stayed bound: %q", q)
	}
}
