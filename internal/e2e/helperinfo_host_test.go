//go:build hosttest

package e2e

import (
	"strings"
	"testing"

	"github.com/gonfct/gonfct/internal/nstest"
)

// A kernel helper (ftp here) keeps no private data: the kernel used to
// take `ct add/update --helper-info` and drop the data without a word, exit
// 0. Now gonfct says so, exit 1, and changes nothing (issue 19, defect 5).
// The user-space helper's side (the data kept) is TestCtVMHelperPrivateData.
func TestCtHelperInfoForKernelHelper(t *testing.T) {
	ns := nstest.New(t)
	tu := []string{"tcp", "10.9.0.1", "10.9.0.2", "40000", "21"}
	r := ctCLI(t, ns, "", append([]string{"ct", "add", "-t", "600", "--helper", "ftp", "--helper-info", "0102"}, tu...)...)
	if r.code != 1 || strings.Count(r.err, "\n") != 1 || !strings.Contains(r.err, "ftp is a kernel helper") {
		t.Errorf("ct add --helper ftp --helper-info: exit %d, %q", r.code, r.err)
	}
	if n := ctCount(t, ns); n != 0 {
		t.Errorf("the refused add left %d conntracks", n)
	}
	mustCtCLI(t, ns, "", append([]string{"ct", "add", "-t", "600", "--helper", "ftp"}, tu...)...)
	for _, extra := range [][]string{{"--helper-info", "01"}, {"--helper", "ftp", "--helper-info", "01"}} {
		r = ctCLI(t, ns, "", append(append([]string{"ct", "update", "-t", "30"}, extra...), tu...)...)
		if r.code != 1 || !strings.Contains(r.err, "ftp is a kernel helper") {
			t.Errorf("ct update %q: exit %d, %q", extra, r.code, r.err)
		}
	}
	// Nothing changed: the timeout is still the add's, not the update's 30.
	if out := mustCtCLI(t, ns, "", append([]string{"ct", "get"}, tu...)...).out; !strings.Contains(out, " helper=ftp ") || strings.Contains(out, " 30 ") || strings.Contains(out, " 29 ") {
		t.Errorf("after the refused updates: %q", out)
	}
}
