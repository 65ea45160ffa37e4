package expect

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gonfct/gonfct/internal/cli"
	"github.com/gonfct/gonfct/internal/cli/clitest"
	"github.com/gonfct/gonfct/pkg/ctnetlink"
	ctexpect "github.com/gonfct/gonfct/pkg/expect"
)

var addr = netip.MustParseAddr

func TestExpectAddParsing(t *testing.T) {
	var stderr strings.Builder
	env := &cli.Env{Err: &stderr}
	var got *AddOptions
	run := func(args ...string) error {
		got = nil
		return clitest.Execute(t, NewCmdAdd(env, func(o *AddOptions) error { got = o; return nil }), args...)
	}
	err := run("--master", "tcp 10.0.0.1 10.0.0.2 40000 21", "--tuple", "proto=tcp src=10.0.0.2 dst=10.0.0.1 sport=0 dport=50000",
		"--mask", "src=/32 sport=0", "--class", "0", "--helper", "ftp", "--flags", "permanent,inactive", "--zone", "5",
		"--nat-dir", "reply", "--nat-tuple", "192.0.2.1 1234", "--expectfn", "nat-follow-master")
	if err != nil {
		t.Fatal(err)
	}
	e := got.exp
	want := ctexpect.Expectation{
		Master: ctnetlink.Tuple{Src: addr("10.0.0.1"), Dst: addr("10.0.0.2"), Proto: 6, SrcPort: 40000, DstPort: 21},
		Tuple:  ctnetlink.Tuple{Src: addr("10.0.0.2"), Dst: addr("10.0.0.1"), Proto: 6, DstPort: 50000},
		Mask:   ctnetlink.Tuple{Src: addr("255.255.255.255"), Dst: addr("255.255.255.255"), Proto: 6, DstPort: 65535},
		Flags:  ctexpect.Permanent | ctexpect.Inactive, Helper: "ftp", Zone: 5, HasZone: true,
		NAT: ctexpect.NAT{Set: true, Dir: 1, Tuple: ctnetlink.Tuple{Src: addr("192.0.2.1"), Dst: addr("0.0.0.0"), Proto: 6, SrcPort: 1234}},
		Fn:  "nat-follow-master",
	}
	if e != want {
		t.Errorf("options\n got %+v\nwant %+v", e, want)
	}
	if stderr.Len() != 0 {
		t.Errorf("a prefix mask warned: %q", stderr.String())
	}
	// Without --mask, a zero source port matches any port (the kernel's
	// helpers do the same); the rest matches exactly.
	if err := run("--master", "tcp 10.0.0.1 10.0.0.2 40000 21", "--tuple", "tcp 10.0.0.2 10.0.0.1 0 50000"); err != nil {
		t.Fatal(err)
	}
	wantMask := ctnetlink.Tuple{Src: addr("255.255.255.255"), Dst: addr("255.255.255.255"), Proto: 6, SrcPort: 0, DstPort: 65535}
	if got.exp.Mask != wantMask {
		t.Errorf("default mask %+v, want %+v", got.exp.Mask, wantMask)
	}
	// A zero source address matches any address too.
	if err := run("--master", "tcp 10.0.0.1 10.0.0.2 40000 21", "--tuple", "tcp 0.0.0.0 10.0.0.1 1024 50000"); err != nil {
		t.Fatal(err)
	}
	wantMask = ctnetlink.Tuple{Src: addr("0.0.0.0"), Dst: addr("255.255.255.255"), Proto: 6, SrcPort: 65535, DstPort: 65535}
	if got.exp.Mask != wantMask {
		t.Errorf("default mask for source 0.0.0.0: %+v, want %+v", got.exp.Mask, wantMask)
	}
	// Masks are masks: prefix lengths and mask addresses mean the same;
	// an address typed where a mask belongs is taken (the kernel ANDs bit
	// by bit) but warned about, on one line.
	for _, tt := range []struct {
		mask, src, warn string
	}{
		{"src=/24", "255.255.255.0", ""},
		{"src=255.255.255.0 sport=0", "255.255.255.0", ""},
		{"/32 /32 0 65535", "255.255.255.255", ""},
		{"src=/0", "0.0.0.0", ""},
		{"src=10.0.0.2 sport=0", "10.0.0.2", "gonfct: warning: --mask src=10.0.0.2 is not a contiguous prefix"},
	} {
		stderr.Reset()
		if err := run("--master", "tcp 10.0.0.1 10.0.0.2 40000 21", "--tuple", "tcp 10.0.0.2 10.0.0.1 0 50000", "--mask", tt.mask); err != nil {
			t.Errorf("--mask %q: %v", tt.mask, err)
			continue
		}
		if got.exp.Mask.Src != addr(tt.src) {
			t.Errorf("--mask %q: source mask %v, want %s", tt.mask, got.exp.Mask.Src, tt.src)
		}
		w := stderr.String()
		if (tt.warn == "") != (w == "") || !strings.HasPrefix(w, tt.warn) || strings.Count(w, "\n") > 1 {
			t.Errorf("--mask %q: stderr %q, want a line starting %q", tt.mask, w, tt.warn)
		}
	}

	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--tuple", "tcp 1.1.1.1 2.2.2.2 1 2"}, "needs --master and --tuple"},
		{[]string{"--master", "tcp 1.1.1.1 2.2.2.2 1", "--tuple", "tcp 1.1.1.1 2.2.2.2 1 2"}, "--master"},
		{[]string{"--master", "tcp 1.1.1.1 2.2.2.2 1 2", "--tuple", "tcp fd00::1 fd00::2 1 2"}, "one family"},
		{[]string{"--master", "tcp 1.1.1.1 2.2.2.2 1 2", "--tuple", "tcp 2.2.2.2 1.1.1.1 0 5", "--class", "4"}, "--class"},
		{[]string{"--master", "tcp 1.1.1.1 2.2.2.2 1 2", "--tuple", "tcp 2.2.2.2 1.1.1.1 0 5", "--flags", "userspace"}, "USERSPACE"},
		{[]string{"--master", "tcp 1.1.1.1 2.2.2.2 1 2", "--tuple", "tcp 2.2.2.2 1.1.1.1 0 5", "--flags", "bogus"}, "unknown expectation flag"},
		{[]string{"--master", "tcp 1.1.1.1 2.2.2.2 1 2", "--tuple", "tcp 2.2.2.2 1.1.1.1 0 5", "--nat-dir", "reply"}, "go together"},
		{[]string{"--master", "tcp 1.1.1.1 2.2.2.2 1 2", "--tuple", "tcp 2.2.2.2 1.1.1.1 0 5", "--mask", "0.0.0.0 255.255.0.0"}, "destination exactly"},
		{[]string{"--master", "tcp 1.1.1.1 2.2.2.2 1 2", "--tuple", "tcp 2.2.2.2 1.1.1.1 0 5", "--zone", "70000"}, "--zone"},
		{[]string{"--master", "tcp 1.1.1.1 2.2.2.2 1 2", "--tuple", "tcp 2.2.2.2 1.1.1.1 0 5", "--mask", "src=/33"}, "/0 to /32"},
		{[]string{"--master", "tcp 1.1.1.1 2.2.2.2 1 2", "--tuple", "tcp 2.2.2.2 1.1.1.1 0 5", "--helper", "a-sixteen-bytes!"}, "at most 15"},
	} {
		err := run(tt.args...)
		if cli.ExitCode(err) != cli.ExitUsage || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: %v (exit %d), want a usage error about %q", tt.args, err, cli.ExitCode(err), tt.want)
		}
		if got != nil {
			t.Errorf("%q reached the kernel", tt.args)
		}
	}
}

func TestExpectFilterParsing(t *testing.T) {
	env := &cli.Env{}
	var got *ListOptions
	run := func(args ...string) error {
		got = nil
		return clitest.Execute(t, NewCmdList(env, func(o *ListOptions) error { got = o; return nil }), args...)
	}
	if err := run("-p", "udp", "-f", "ipv4", "--helper", "sip", "--class", "2", "--zone", "3", "-s", "10.0.0.3", "--dport", "5004",
		"--master", "udp 10.0.0.1 10.0.0.3 5060 5060"); err != nil {
		t.Fatal(err)
	}
	one := func(s string) netip.Prefix { return netip.PrefixFrom(addr(s), 32) }
	want := ctexpect.Filter{Family: 2, Proto: 17, Helper: "sip", Class: 2, HasClass: true, Zone: 3, HasZone: true,
		Src: one("10.0.0.3"), DstPort: ctnetlink.PortOf(5004),
		MasterProto: 17, MasterSrc: one("10.0.0.1"), MasterDst: one("10.0.0.3"),
		MasterSrcPort: ctnetlink.PortOf(5060), MasterDstPort: ctnetlink.PortOf(5060)}
	if got.filter != want {
		t.Errorf("filter\n got %+v\nwant %+v", got.filter, want)
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"-p", "bogus"}, "--proto"},
		{[]string{"-f", "ipx"}, "--family"},
		{[]string{"--sport", "x"}, "--sport"},
		{[]string{"--master-src", "1.2.3"}, "--master-src"},
		{[]string{"--master", "tcp 1.1.1.1 2.2.2.2 1 2", "--master-dport", "2"}, "not both"},
		{[]string{"-f", "ipv6", "-s", "10.0.0.1"}, "is not ipv6"},
		{[]string{"-s", "10.0.0.1", "--master-dst", "fd00::1"}, "mix IPv4 and IPv6"},
		{[]string{"--helper", "none"}, "has a helper"},
		{[]string{"--class", "x"}, "--class"},
		{[]string{"extra"}, "takes no arguments"},
	} {
		err := run(tt.args...)
		if cli.ExitCode(err) != cli.ExitUsage || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: %v, want a usage error about %q", tt.args, err, tt.want)
		}
	}
}

func TestExpectDeleteParsing(t *testing.T) {
	env := &cli.Env{}
	var got *DeleteOptions
	run := func(args ...string) error {
		got = nil
		return clitest.Execute(t, NewCmdDelete(env, func(o *DeleteOptions) error { got = o; return nil }), args...)
	}
	if err := run("tcp", "10.0.0.2", "10.0.0.1", "0", "50000", "--zone", "4", "--id", "77"); err != nil {
		t.Fatal(err)
	}
	if !got.byKey || got.key.Tuple.DstPort != 50000 || got.key.Zone != 4 || !got.key.HasZone || got.key.ID != 77 {
		t.Errorf("by tuple: %+v", got)
	}
	if err := run("--id", "0x10"); err != nil || got.byKey || got.filter.ID != 16 {
		t.Errorf("by id: %+v, %v", got, err)
	}
	if err := run("--helper", "ftp"); err != nil || got.filter.Helper != "ftp" {
		t.Errorf("by helper: %+v, %v", got, err)
	}
	if err := run("--master", "tcp 10.0.0.1 10.0.0.2 40000 21"); err != nil || got.filter.MasterDstPort.N != 21 {
		t.Errorf("by master: %+v, %v", got, err)
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{nil, "expect flush"},
		{[]string{"tcp", "10.0.0.2", "10.0.0.1", "0", "50000", "--helper", "ftp"}, "only --zone and --id"},
		{[]string{"tcp", "10.0.0.2"}, "want PROTO SRC DST"},
		{[]string{"--id", "0"}, "--id"},
	} {
		err := run(tt.args...)
		if cli.ExitCode(err) != cli.ExitUsage || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: %v, want a usage error about %q", tt.args, err, tt.want)
		}
	}
}

func TestExpectWatchParsing(t *testing.T) {
	env := &cli.Env{}
	var got *WatchOptions
	run := func(args ...string) error {
		got = nil
		return clitest.Execute(t, NewCmdWatch(env, func(o *WatchOptions) error { got = o; return nil }), args...)
	}
	if err := run("-e", "new", "--count", "5", "--timeout", "2s", "-b", "16M", "--helper", "ftp"); err != nil {
		t.Fatal(err)
	}
	w := got.watch
	if !slices.Equal(w.Events, []ctnetlink.EventType{ctnetlink.EventNew}) || w.Count != 5 || w.Timeout != 2*time.Second ||
		w.BufferSize != 16<<20 || !w.Resync || got.filter.Helper != "ftp" {
		t.Errorf("watch options %+v", got)
	}
	// The same defaults as ct watch: both event types, 32 MiB, resync.
	if err := run("--no-resync"); err != nil || len(got.watch.Events) != 2 || got.watch.Resync || got.watch.BufferSize != 32<<20 {
		t.Errorf("defaults: %+v, %v", got, err)
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"-e", "update"}, "no update events"},
		{[]string{"-e", "foo"}, "unknown event type"},
		{[]string{"--count", "-1"}, "--count"},
		{[]string{"-b", "lots"}, "--buffer-size"},
		{[]string{"-b", "2G"}, "--buffer-size"},
	} {
		err := run(tt.args...)
		if cli.ExitCode(err) != cli.ExitUsage || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: %v, want a usage error about %q", tt.args, err, tt.want)
		}
	}
}

func TestStatsText(t *testing.T) {
	got := string(statsRecord{ctexpect.CPUStats{CPU: 1, New: 2, Create: 3, Delete: 4}}.AppendText(nil))
	if want := "cpu=1   \texpect_new=2 expect_create=3 expect_delete=4 \n"; got != want {
		t.Errorf("stats line %q, want conntrack -S expect's %q", got, want)
	}
}
