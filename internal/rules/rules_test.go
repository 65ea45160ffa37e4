package rules

import (
	"bytes"
	"strings"
	"testing"

	"github.com/gonfct/gonfct/pkg/cthelper/builtin"
	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

func TestParse(t *testing.T) {
	both := []uint8{unix.AF_INET, unix.AF_INET6}
	tests := []struct {
		arg  string
		want []Assign
		err  string
	}{
		{arg: "ftp", want: []Assign{{"ftp", unix.IPPROTO_TCP, both, []uint16{21}}}},
		{arg: "ftp:21,2121,21", want: []Assign{{"ftp", unix.IPPROTO_TCP, both, []uint16{21, 2121}}}},
		{arg: "rpc", want: []Assign{{"rpc", unix.IPPROTO_TCP, both, []uint16{111}}, {"rpc", unix.IPPROTO_UDP, both, []uint16{111}}}},
		{arg: "rpc/udp:1111", want: []Assign{{"rpc", unix.IPPROTO_UDP, both, []uint16{1111}}}},
		{arg: "dhcpv6", want: []Assign{{"dhcpv6", unix.IPPROTO_UDP, []uint8{unix.AF_INET6}, []uint16{547}}}},
		// ssdp's TCP connections are helped through its expectations.
		{arg: "ssdp", want: []Assign{{"ssdp", unix.IPPROTO_UDP, both, []uint16{1900}}}},
		{arg: "ssdp/tcp:2869", want: []Assign{{"ssdp", unix.IPPROTO_TCP, both, []uint16{2869}}}},
		{arg: "steam/udp:27015", want: []Assign{{"steam", unix.IPPROTO_UDP, both, []uint16{27015}}}},
		{arg: "steam", err: "steam/udp:PORT"},
		{arg: "steam/udp", err: "steam/udp:PORT"},
		{arg: "ftp/udp", err: "does not exist for udp (it takes tcp)"},
		{arg: "ftp/icmp", err: "tcp or udp"},
		{arg: "ftp:0", err: "bad port"},
		{arg: "ftp:65536", err: "bad port"},
		{arg: "ftp:", err: "bad port"},
		{arg: "ft\"p/tcp:1", err: "letters, digits"},
		{arg: "", err: "empty helper name"},
		{arg: "a-name-of-16byte/tcp:1", err: "at most 15"},
	}
	for _, tt := range tests {
		got, err := Parse(builtin.Registry, tt.arg)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("Parse(%q) error %v, want one with %q", tt.arg, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.arg, err)
			continue
		}
		if d := cmp.Diff(tt.want, got); d != "" {
			t.Errorf("Parse(%q) (-want +got):\n%s", tt.arg, d)
		}
	}
}

func mustParse(t *testing.T, args ...string) []Assign {
	t.Helper()
	var as []Assign
	for _, a := range args {
		x, err := Parse(builtin.Registry, a)
		if err != nil {
			t.Fatal(err)
		}
		as = append(as, x...)
	}
	return as
}

// body drops the comment header, which is for people.
func body(s string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func TestNFT(t *testing.T) {
	var b bytes.Buffer
	if err := NFT(&b, Options{Assigns: mustParse(t, "ftp:21,2121", "dhcpv6")}); err != nil {
		t.Fatal(err)
	}
	want := `table inet gonfct
delete table inet gonfct
table inet gonfct {
	ct helper ftp-tcp {
		type "ftp" protocol tcp
		l3proto inet
	}
	ct helper dhcpv6-udp {
		type "dhcpv6" protocol udp
		l3proto ip6
	}
	chain prerouting {
		type filter hook prerouting priority 0; policy accept; # filter priority: after the conntrack lookup (-200)
		tcp dport { 21, 2121 } ct helper set "ftp-tcp"
		meta nfproto ipv6 udp dport 547 ct helper set "dhcpv6-udp"
	}
	chain output {
		type filter hook output priority 0; policy accept; # filter priority: after the conntrack lookup (-200)
		tcp dport { 21, 2121 } ct helper set "ftp-tcp"
		meta nfproto ipv6 udp dport 547 ct helper set "dhcpv6-udp"
	}
}
`
	if d := cmp.Diff(want, body(b.String())); d != "" {
		t.Errorf("nft (-want +got):\n%s", d)
	}
	for _, l := range []string{"#   gonfct helper add ftp inet tcp\n", "#   gonfct helper add ftp inet6 tcp\n", "#   gonfct helper add dhcpv6 inet6 udp\n", "ct state related"} {
		if !strings.Contains(b.String(), l) {
			t.Errorf("header lacks %q:\n%s", l, b.String())
		}
	}
}

func TestNFTNATAndFamily(t *testing.T) {
	var b bytes.Buffer
	if err := NFT(&b, Options{Assigns: mustParse(t, "tftp"), NAT: true, Family: unix.AF_INET, Table: "fw-helpers"}); err != nil {
		t.Fatal(err)
	}
	s := b.String()
	for _, l := range []string{"table ip fw-helpers {\n", "l3proto ip\n", "type filter hook prerouting priority -150;", "type filter hook output priority -150;", "\t\tudp dport 69 ct helper set \"tftp-udp\"\n"} {
		if !strings.Contains(s, l) {
			t.Errorf("lacks %q:\n%s", l, s)
		}
	}
	if strings.Contains(s, "inet6") || strings.Contains(s, "nfproto") {
		t.Errorf("IPv4-only rules mention IPv6:\n%s", s)
	}
	if err := NFT(&b, Options{Assigns: mustParse(t, "dhcpv6"), Family: unix.AF_INET}); err == nil || !strings.Contains(err.Error(), `"dhcpv6" does not exist for inet`) {
		t.Errorf("dhcpv6 for IPv4: %v", err)
	}
	if err := NFT(&b, Options{Assigns: mustParse(t, "ftp"), Table: "a b"}); err == nil || !strings.Contains(err.Error(), "bad table name") {
		t.Errorf("bad table: %v", err)
	}
	if err := NFT(&b, Options{}); err == nil {
		t.Error("no helpers: no error")
	}
}

func TestIPTables(t *testing.T) {
	var b bytes.Buffer
	if err := IPTables(&b, Options{Assigns: mustParse(t, "ftp:21,2121", "dhcpv6")}); err != nil {
		t.Fatal(err)
	}
	want := `iptables -t raw -A PREROUTING -p tcp -m multiport --dports 21,2121 -j CT --helper ftp
iptables -t raw -A OUTPUT -p tcp -m multiport --dports 21,2121 -j CT --helper ftp
ip6tables -t raw -A PREROUTING -p tcp -m multiport --dports 21,2121 -j CT --helper ftp
ip6tables -t raw -A PREROUTING -p udp --dport 547 -j CT --helper dhcpv6
ip6tables -t raw -A OUTPUT -p tcp -m multiport --dports 21,2121 -j CT --helper ftp
ip6tables -t raw -A OUTPUT -p udp --dport 547 -j CT --helper dhcpv6
`
	if d := cmp.Diff(want, body(b.String())); d != "" {
		t.Errorf("iptables (-want +got):\n%s", d)
	}

	b.Reset()
	if err := IPTables(&b, Options{Assigns: mustParse(t, "tftp"), Chain: "HELPERS", Family: unix.AF_INET, NAT: true}); err != nil {
		t.Fatal(err)
	}
	want = `iptables -t raw -N HELPERS 2>/dev/null || iptables -t raw -F HELPERS
iptables -t raw -A HELPERS -p udp --dport 69 -j CT --helper tftp
iptables -t raw -C PREROUTING -j HELPERS 2>/dev/null || iptables -t raw -A PREROUTING -j HELPERS
iptables -t raw -C OUTPUT -j HELPERS 2>/dev/null || iptables -t raw -A OUTPUT -j HELPERS
`
	if d := cmp.Diff(want, body(b.String())); d != "" {
		t.Errorf("iptables --chain (-want +got):\n%s", d)
	}
	if !strings.Contains(b.String(), "# NAT:") {
		t.Errorf("no NAT note:\n%s", b.String())
	}
}
