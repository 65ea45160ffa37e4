package builtin

import (
	"testing"

	"golang.org/x/sys/unix"
)

// The defaults must be the ones nfct sends, so helpers made by either tool
// are interchangeable (conntrack-tools src/nfct-extensions/helper.c).
func TestDefaultsMatchNfct(t *testing.T) {
	want := map[string]struct {
		priv, max, timeout uint32
	}{
		"amanda": {0, 4, 180}, "dhcpv6": {0, 1, 300}, "ftp": {24, 1, 300}, "mdns": {0, 8, 30},
		"rpc": {16, 1, 300}, "sane": {4, 1, 300}, "slp": {0, 8, 16}, "ssdp": {0, 8, 300},
		"tftp": {0, 1, 300}, "tns": {1, 1, 300},
	}
	for name, w := range want {
		s, ok := Registry.Lookup(name)
		if !ok {
			t.Errorf("%s: not built in", name)
			continue
		}
		p := s.Policies[0]
		if s.PrivLen != w.priv || p.ExpectMax != w.max || p.ExpectTimeout != w.timeout || p.Name != name {
			t.Errorf("%s: priv %d policy %+v, want priv %d %s/%d/%d", name, s.PrivLen, p, w.priv, name, w.max, w.timeout)
		}
	}
	if s, _ := Registry.Lookup("rpc"); !s.Supports(unix.AF_INET, unix.IPPROTO_UDP) || !s.Supports(unix.AF_INET6, unix.IPPROTO_TCP) {
		t.Error("rpc must support tcp and udp over inet and inet6")
	}
	if _, ok := Registry.Lookup("rsh"); !ok {
		t.Error("rsh is not built in")
	}
}

// Every helper with a parser builds it with its defaults, and its private
// data length is the one its package documents.
func TestParsersBuild(t *testing.T) {
	for _, name := range Registry.Names() {
		s, _ := Registry.Lookup(name)
		if s.NewParser == nil {
			continue
		}
		if _, err := s.NewParser(nil); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		if _, err := s.NewParser(map[string]string{"no-such-option": "1"}); err == nil {
			t.Errorf("%s: unknown option accepted", name)
		}
	}
	if s, ok := Registry.Lookup("nsrexec"); !ok || s.PrivLen != 16 || s.Port != 7937 || !s.Supports(unix.AF_INET6, unix.IPPROTO_UDP) {
		t.Errorf("nsrexec: %+v", s)
	}
}
