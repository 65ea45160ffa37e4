//go:build vmtest

package e2e

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/gonfct/gonfct/internal/nstest"
	"github.com/gonfct/gonfct/pkg/ctflow"
)

// Helper private data round-trips only with a user-space helper
// (nfnetlink_cthelper's to_nlattr/from_nlattr; kernel helpers keep none),
// which the host kernel lacks: this runs on Debian's 6.1 in the VM.
func TestCtVMHelperPrivateData(t *testing.T) {
	ownHelpers(t)
	a, b := nstest.New(t), nstest.New(t)
	// nfct's built-in table gives rpc 16 bytes of private data.
	a.MustRun("nfct", "add", "helper", "rpc", "inet", "tcp")
	t.Cleanup(func() {
		a.Run("conntrack", "-F")
		b.Run("conntrack", "-F")
		a.Run("nfct", "delete", "helper", "rpc")
	})
	info := "000102030405060708090a0b0c0d0e0f"
	mustCtCLI(t, a, "", "ct", "add", "tcp", "10.0.0.1", "10.0.0.2", "1000", "111", "-t", "600",
		"--state", "ESTABLISHED", "--helper", "rpc", "--helper-info", info)
	get := func(ns *nstest.NS) ctflow.FlowJSON {
		t.Helper()
		r := mustCtCLI(t, ns, "", "ct", "get", "-o", "json", "tcp", "10.0.0.1", "10.0.0.2", "1000", "111")
		var j ctflow.FlowJSON
		if err := json.Unmarshal([]byte(r.out), &j); err != nil {
			t.Fatal(err)
		}
		return j
	}
	if j := get(a); j.Helper != "rpc" || j.HelperInfo != info {
		t.Fatalf("after add: helper %q info %q", j.Helper, j.HelperInfo)
	}
	if l := a.MustRun("conntrack", "-L"); !strings.Contains(l, "helper=rpc") {
		t.Errorf("conntrack -L: %s", l)
	}
	info2 := "ffeeddccbbaa99887766554433221100"
	mustCtCLI(t, a, "", "ct", "update", "tcp", "10.0.0.1", "10.0.0.2", "1000", "111", "--helper-info", info2)
	if j := get(a); j.HelperInfo != info2 {
		t.Fatalf("after update: info %q", j.HelperInfo)
	}

	// Failover: the private data travels.
	save := mustCtCLI(t, a, "", "ct", "save").out
	mustCtCLI(t, b, save, "ct", "restore")
	if j := get(b); j.Helper != "rpc" || j.HelperInfo != info2 {
		t.Fatalf("restored: helper %q info %q", j.Helper, j.HelperInfo)
	}
	// Restoring again with other private data updates it in place.
	r := mustCtCLI(t, b, strings.Replace(save, info2, info, 1), "ct", "restore")
	if !strings.Contains(r.err, "restored 0, updated 1") {
		t.Errorf("second restore: %q", r.err)
	}
	if j := get(b); j.HelperInfo != info {
		t.Fatalf("re-restored: info %q", j.HelperInfo)
	}
}
