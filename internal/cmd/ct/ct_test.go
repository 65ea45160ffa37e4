package ct

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"strings"
	"testing"

	"github.com/gonfct/gonfct/internal/cli"
	"github.com/gonfct/gonfct/internal/cli/clitest"
	"github.com/gonfct/gonfct/pkg/ctflow"
	"github.com/gonfct/gonfct/pkg/ctnetlink"
	"golang.org/x/sys/unix"
)

func TestCtAddParsing(t *testing.T) {
	env := &cli.Env{}
	var got *AddOptions
	runF := func(o *AddOptions) error { got = o; return nil }
	err := clitest.Execute(t, NewCmdAdd(env, runF), "tcp", "10.0.0.1", "10.0.0.2", "40000", "21", "--timeout", "60",
		"--helper", "ftp", "--helper-info", "0a:0b", "--status", "assured,seen-reply", "--state", "established",
		"--mark", "0x10", "--zone", "3", "--label", "1,5")
	if err != nil {
		t.Fatal(err)
	}
	f := &got.flow
	if f.Helper() != "ftp" || !bytes.Equal(f.HelperInfo(), []byte{10, 11}) || f.Timeout != 60 || f.Mark != 0x10 ||
		f.Zone != 3 || f.Status != ctflow.StatusAssured|ctflow.StatusSeenReply || f.StateName() != "ESTABLISHED" {
		t.Errorf("parsed flow: %+v", f)
	}
	if f.Labels[0] != 0x22 || !f.Has(ctflow.HasLabels) {
		t.Errorf("labels %x", f.Labels)
	}
	if f.Reply.Src != netip.MustParseAddr("10.0.0.2") || f.Reply.SrcPort != 21 || f.Family != unix.AF_INET {
		t.Errorf("default reply %v", f.Reply)
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"tcp", "10.0.0.1", "10.0.0.2", "1", "2"}, "needs --timeout"},
		{[]string{"tcp", "10.0.0.1", "10.0.0.2", "1", "2", "-t", "0"}, "--timeout"},
		{[]string{"tcp", "10.0.0.1", "10.0.0.2", "1", "2", "-t", "5", "--mark", "1/3"}, "plain MARK"},
		{[]string{"tcp", "10.0.0.1", "10.0.0.2", "1", "2", "-t", "5", "--helper-info", "00"}, "needs --helper"},
		{[]string{"tcp", "10.0.0.1", "10.0.0.2", "1", "2", "-t", "5", "--helper", "ftp", "--helper-info", strings.Repeat("00", 33)}, "at most 32"},
		{[]string{"tcp", "10.0.0.1", "10.0.0.2", "1", "2", "-t", "5", "--state", "bogus"}, "unknown tcp state"},
		{[]string{"udp", "10.0.0.1", "10.0.0.2", "1", "2", "-t", "5", "--state", "established"}, "no states"},
		{[]string{"tcp", "10.0.0.1", "10.0.0.2", "1", "2", "-t", "5", "--label", "200"}, "0-127"},
		{[]string{"tcp", "10.0.0.1", "10.0.0.2", "1", "2", "-t", "5", "--zone", "70000"}, "zone"},
		{[]string{"tcp", "10.0.0.1", "10.0.0.2", "1", "2", "-t", "5", "--reply", "tcp fd00::1 fd00::2 2 1"}, "protocol and family"},
		{[]string{"tcp", "10.0.0.1"}, "tuple"},
	} {
		err := clitest.Execute(t, NewCmdAdd(env, runF), tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) || cli.ExitCode(err) != cli.ExitUsage {
			t.Errorf("ct add %v: %v (exit %d), want usage error with %q", tc.args, err, cli.ExitCode(err), tc.want)
		}
	}
}

func TestCtUpdateParsing(t *testing.T) {
	env := &cli.Env{}
	var got *UpdateOptions
	runF := func(o *UpdateOptions) error { got = o; return nil }
	if err := clitest.Execute(t, NewCmdUpdate(env, runF), "udp", "1.1.1.1", "2.2.2.2", "1", "2", "--mark", "0x30/0xf0"); err != nil {
		t.Fatal(err)
	}
	if got.flow.Mark != 0x30 || got.markMask != 0xf0 || got.flow.Has(ctflow.HasTimeout) {
		t.Errorf("update options %+v", got)
	}
	if err := clitest.Execute(t, NewCmdUpdate(env, runF), "udp", "1.1.1.1", "2.2.2.2", "1", "2"); err == nil || !strings.Contains(err.Error(), "something to change") {
		t.Errorf("update without changes: %v", err)
	}
}

func TestCtFilterParsing(t *testing.T) {
	env := &cli.Env{}
	var got *ListOptions
	runF := func(o *ListOptions) error { got = o; return nil }
	err := clitest.Execute(t, NewCmdList(env, runF), "-p", "tcp", "-s", "10.0.0.0/8", "--dport", "21", "--helper", "ftp",
		"--mark", "1/0xf", "--zone", "4", "--status", "assured", "--state", "ESTABLISHED", "--reply-dst", "10.1.1.1")
	if err != nil {
		t.Fatal(err)
	}
	f := got.filter
	if !f.HasProto || f.Proto != 6 || f.Src != netip.MustParsePrefix("10.0.0.0/8") || f.Dport != ctnetlink.PortOf(21) ||
		f.Helper != "ftp" || f.Mark != 1 || f.MarkMask != 0xf || f.Zone != 4 || !f.HasZone || f.Status != ctflow.StatusAssured ||
		!f.HasState || f.State != 3 || f.ReplyDst != netip.MustParsePrefix("10.1.1.1/32") {
		t.Errorf("filter %+v", f)
	}
	// --state alone means TCP.
	if err := clitest.Execute(t, NewCmdList(env, runF), "--state", "SYN_SENT"); err != nil || got.filter.Proto != unix.IPPROTO_TCP {
		t.Errorf("--state alone: %v, proto %d", err, got.filter.Proto)
	}
	if err := clitest.Execute(t, NewCmdList(env, runF), "--helper", "none"); err != nil || !got.filter.HasHelper || got.filter.Helper != "" {
		t.Errorf("--helper none: %v %+v", err, got.filter)
	}
	for _, args := range [][]string{
		{"-f", "ipx"}, {"-p", "nope"}, {"-s", "10.0.0.0/33"}, {"--sport", "99999"}, {"--mark", "x"},
		{"--status", "bogus"}, {"-f", "ipv6", "-s", "10.0.0.1"}, {"extra"},
	} {
		err := clitest.Execute(t, NewCmdList(env, runF), args...)
		if cli.ExitCode(err) != cli.ExitUsage {
			t.Errorf("ct list %v: %v, want a usage error", args, err)
		}
	}
}

func TestCtDeleteWatchRestoreParsing(t *testing.T) {
	env := &cli.Env{}
	var del *DeleteOptions
	if err := clitest.Execute(t, NewCmdDelete(env, func(o *DeleteOptions) error { del = o; return nil }),
		"tcp", "1.1.1.1", "2.2.2.2", "1", "2", "--zone", "9"); err != nil || !del.byKey || del.key.Zone != 9 || !del.key.HasZone {
		t.Errorf("delete tuple --zone: %v %+v", err, del)
	}
	var w *WatchOptions
	if err := clitest.Execute(t, NewCmdWatch(env, func(o *WatchOptions) error { w = o; return nil }),
		"-e", "new,destroy", "--count", "5", "--timeout", "3s", "-p", "udp", "-b", "8M"); err != nil {
		t.Fatal(err)
	}
	if len(w.watch.Events) != 2 || w.watch.Events[1] != ctnetlink.EventDestroy || w.watch.Count != 5 ||
		w.watch.Timeout.Seconds() != 3 || w.filter.Proto != 17 || w.watch.BufferSize != 8<<20 {
		t.Errorf("watch options %+v", w)
	}
	if err := clitest.Execute(t, NewCmdWatch(env, func(o *WatchOptions) error { w = o; return nil }), "--event", "update"); err != nil ||
		len(w.watch.Events) != 1 || w.watch.Events[0] != ctnetlink.EventUpdate {
		t.Errorf("--event, the old name of --event-mask: %v %+v", err, w)
	}
	// Flags and messages as expect watch's.
	for _, args := range [][]string{{"-b", "lots"}, {"-e", "bogus"}, {"--count", "-1"}} {
		err := clitest.Execute(t, NewCmdWatch(env, func(o *WatchOptions) error { return nil }), args...)
		if cli.ExitCode(err) != cli.ExitUsage {
			t.Errorf("ct watch %v: %v, want a usage error", args, err)
		}
	}
	var r *RestoreOptions
	if err := clitest.Execute(t, NewCmdRestore(env, func(o *RestoreOptions) error { r = o; return nil }),
		"--dry-run", "--continue", "--replace", "f.json"); err != nil || !r.dryRun || !r.cont || !r.replace || r.file != "f.json" {
		t.Errorf("restore options %v %+v", err, r)
	}
}

// Text output of watch events keeps conntrack -E's %9s prefix; table and
// JSON carry the event name.
func TestCtEventRecord(t *testing.T) {
	var f ctflow.Flow
	f.Orig.Proto, f.Reply.Proto = 17, 17
	f.Orig.Src, f.Orig.Dst = netip.MustParseAddr("1.1.1.1"), netip.MustParseAddr("2.2.2.2")
	f.Reply.Src, f.Reply.Dst = f.Orig.Dst, f.Orig.Src
	r := eventRecord{&ctflow.Event{Type: ctnetlink.EventDestroy, Flow: f}, &textOut{}}
	if got := string(r.AppendText(nil)); got != "[DESTROY] udp      17 src=1.1.1.1 dst=2.2.2.2 sport=0 dport=0 src=2.2.2.2 dst=1.1.1.1 sport=0 dport=0\n" {
		t.Errorf("text %q", got)
	}
	b := r.AppendJSON(nil)
	if !json.Valid(b) || !strings.HasPrefix(string(b), `{"event":"destroy","family":`) {
		t.Errorf("json %s", b)
	}
	if row := r.Row(); row[0] != "DESTROY" {
		t.Errorf("row %v", row)
	}
	// An entry of a resync dump: [RESYNC] in text, "resync":true in JSON.
	r.ev.Type, r.ev.Resync = ctnetlink.EventNew, true
	if got := string(r.AppendText(nil)); !strings.HasPrefix(got, " [RESYNC] udp ") {
		t.Errorf("resync text %q", got)
	}
	if b := r.AppendJSON(nil); !json.Valid(b) || !strings.HasPrefix(string(b), `{"event":"new","resync":true,"family":`) {
		t.Errorf("resync json %s", b)
	}
}
