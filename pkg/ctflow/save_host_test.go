//go:build hosttest

package ctflow_test

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/gonfct/gonfct/internal/nstest"
	"github.com/gonfct/gonfct/pkg/ctflow"
	"github.com/gonfct/gonfct/pkg/ctnetlink"
	"github.com/gonfct/gonfct/pkg/expect"
	"golang.org/x/sys/unix"
)

// A GRE conntrack carries its keys where other protocols carry ports: a
// save and restore into another namespace must keep them (it used to
// restore them as 0/0).
func TestSaveRestoreKeepsGREKeys(t *testing.T) {
	a, b := nstest.New(t), nstest.New(t)
	orig := ctnetlink.Tuple{Src: netip.MustParseAddr("10.9.0.1"), Dst: netip.MustParseAddr("10.9.0.2"),
		Proto: unix.IPPROTO_GRE, SrcPort: 0x1234, DstPort: 0x5678}
	f := ctflow.Flow{Family: unix.AF_INET, Orig: orig, Reply: ctflow.Invert(orig), Timeout: 120, Set: ctflow.HasTimeout}
	if err := ctflow.NewClient(a.Dial()).Create(&f); err != nil {
		t.Fatal(err)
	}
	var save bytes.Buffer
	if _, _, err := ctflow.Save(&save, ctflow.NewClient(a.Dial()), ctflow.Filter{}, expect.NewClient(a.Dial()), time.Now()); err != nil {
		t.Fatal(err)
	}
	_, entries, exps, err := ctflow.ParseSaveFile(save.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	r := ctflow.Restore(ctflow.NewClient(b.Dial()), entries, exps, ctflow.RestoreOptions{})
	if r.Restored != 1 || r.Skipped != 0 {
		t.Fatalf("restore: %+v", r)
	}
	var got ctflow.Flow
	if err := ctflow.NewClient(b.Dial()).Get(ctnetlink.Key{Tuple: orig}, &got); err != nil {
		t.Fatalf("the restored GRE conntrack is not found by its keys: %v\nsave file:\n%s", err, save.Bytes())
	}
	if got.Orig.SrcPort != 0x1234 || got.Orig.DstPort != 0x5678 || got.Reply.SrcPort != 0x5678 || got.Reply.DstPort != 0x1234 {
		t.Errorf("restored keys %s / %s, want 0x1234/0x5678 and back", got.Orig, got.Reply)
	}
	if out := b.MustRun("conntrack", "-L", "-p", "gre"); !strings.Contains(out, "srckey=0x1234 dstkey=0x5678") {
		t.Errorf("conntrack -L in the restored namespace:\n%s", out)
	}
}
