package ctcli

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"strings"
	"testing"

	"github.com/gonfct/gonfct/internal/cli"
	"github.com/gonfct/gonfct/pkg/ctnetlink"
	"github.com/spf13/pflag"
	"golang.org/x/sys/unix"
)

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int{"8M": 8 << 20, "512K": 512 << 10, "1G": 1 << 30, "4096": 4096, "16MiB": 16 << 20, "32m": 32 << 20} {
		if got, err := ParseSize(in); err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "0", "lots", "2G", "-1M"} {
		if _, err := ParseSize(in); cli.ExitCode(err) != cli.ExitUsage {
			t.Errorf("ParseSize(%q): %v, want a usage error", in, err)
		}
	}
}

func TestWatchFlags(t *testing.T) {
	var f WatchFlags
	fs := pflag.NewFlagSet("w", pflag.ContinueOnError)
	f.Add(fs, ctnetlink.EventNew, ctnetlink.EventDestroy)
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	w, err := f.Parse("", ctnetlink.EventNew, ctnetlink.EventDestroy)
	if err != nil || len(w.Events) != 2 || w.BufferSize != ctnetlink.DefaultBufferSize || !w.Resync {
		t.Errorf("defaults %+v, %v", w, err)
	}
	if err := fs.Parse([]string{"-e", "update"}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Parse("", ctnetlink.EventNew, ctnetlink.EventDestroy); err == nil || !strings.Contains(err.Error(), "no update events") {
		t.Errorf("-e update for a table without update events: %v", err)
	}
	if _, err := f.Parse("table", ctnetlink.EventNew); err == nil || !strings.Contains(err.Error(), "-o text or -o json") {
		t.Errorf("-o table: %v", err)
	}
}

func TestFilterFlags(t *testing.T) {
	f := FilterFlags{Family: "ipv4", Proto: "udp", Src: "10.0.0.0/8", Dst: "10.1.1.1", Sport: "5", Dport: "0x45", Zone: "3", Helper: "none"}
	s, err := f.Parse()
	if err != nil {
		t.Fatal(err)
	}
	want := Selection{Family: unix.AF_INET, Proto: 17, HasProto: true, Src: netip.MustParsePrefix("10.0.0.0/8"),
		Dst: netip.MustParsePrefix("10.1.1.1/32"), Sport: ctnetlink.PortOf(5), Dport: ctnetlink.PortOf(69), Zone: 3, HasZone: true, HasHelper: true}
	if s != want {
		t.Errorf("selection\n got %+v\nwant %+v", s, want)
	}
	if err := CheckFamilies(unix.AF_INET6, []string{"src"}, s.Src); err == nil || !strings.Contains(err.Error(), "--src 10.0.0.0/8 is not ipv6") {
		t.Errorf("family clash: %v", err)
	}
	if err := CheckFamilies(0, []string{"src", "dst"}, s.Src, netip.MustParsePrefix("fd00::/8")); err == nil || !strings.Contains(err.Error(), "mix") {
		t.Errorf("mixed families: %v", err)
	}
}

func TestAppendEventJSON(t *testing.T) {
	obj := func(b []byte) []byte { return append(b, `{"a":1}`...) }
	for _, tc := range []struct {
		resync bool
		obj    func([]byte) []byte
		want   string
	}{
		{false, obj, `{"event":"new","a":1}`},
		{true, obj, `{"event":"new","resync":true,"a":1}`},
		{false, func(b []byte) []byte { return append(b, "{}"...) }, `{"event":"new"}`},
	} {
		got := AppendEventJSON([]byte("x"), ctnetlink.EventNew, tc.resync, tc.obj)
		if string(got) != "x"+tc.want || !json.Valid(got[1:]) {
			t.Errorf("got %s, want %s", got[1:], tc.want)
		}
	}
}

func TestSay(t *testing.T) {
	var b bytes.Buffer
	env := &cli.Env{Err: &b}
	Say(env, false, "%d flow entries have been shown.", 3)
	Say(env, true, "quiet")
	if b.String() != "gonfct: 3 flow entries have been shown.\n" {
		t.Errorf("stderr %q", b.String())
	}
}
