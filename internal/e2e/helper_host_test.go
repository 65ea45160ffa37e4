//go:build hosttest

package e2e

import (
	"bytes"
	"strings"
	"testing"

	"github.com/gonfct/gonfct/internal/nstest"
)

// This machine's kernel has no nfnetlink_cthelper: every helper command
// must say so, on one line, and exit 1.
func TestHelperCommandsWithoutCthelper(t *testing.T) {
	ns := nstest.New(t)
	for _, args := range [][]string{
		{"helper", "list"},
		{"helper", "add", "rpc", "inet", "udp", "--queue", "2"},
		{"add", "helper", "rpc", "inet", "tcp"},
		{"helper", "update", "ftp", "inet", "tcp", "--queue", "5"},
		{"helper", "enable", "ftp", "inet", "tcp"},
		{"helper", "disable", "ftp", "inet", "tcp"},
		{"helper", "get", "ftp"},
		{"helper", "delete", "rpc"},
		{"helper", "flush"},
	} {
		var out, errw bytes.Buffer
		code := run(append([]string{"--netns", ns.Name}, args...), nil, &out, &errw)
		if code != 1 {
			t.Errorf("%q: exit %d, want 1 (stderr %q)", args, code, errw.String())
		}
		msg := errw.String()
		if !strings.Contains(msg, "kernel lacks nfnetlink_cthelper") || strings.Count(msg, "\n") != 1 {
			t.Errorf("%q: stderr %q, want one line naming the missing nfnetlink_cthelper", args, msg)
		}
		if out.Len() != 0 {
			t.Errorf("%q: stdout %q, want nothing", args, out.String())
		}
	}
}
