package rules

import (
	"strings"
	"testing"

	"github.com/gonfct/gonfct/internal/cli"
	"github.com/gonfct/gonfct/internal/cli/clitest"
	"golang.org/x/sys/unix"
)

func TestRulesParsing(t *testing.T) {
	tests := []struct {
		args     []string
		iptables bool
		nat      bool
		family   uint8
		ports    []uint16
		table    string
		chain    string
		usage    string
	}{
		{args: []string{"ftp"}, ports: []uint16{21}, table: "gonfct"},
		{args: []string{"ftp", "--nft", "--nat", "--table", "x"}, nat: true, ports: []uint16{21}, table: "x"},
		{args: []string{"ftp", "--port", "2121", "--port", "21"}, ports: []uint16{2121, 21}, table: "gonfct"},
		{args: []string{"ftp", "--iptables", "--chain", "H", "--family", "inet6"}, iptables: true, family: unix.AF_INET6, ports: []uint16{21}, table: "gonfct", chain: "H"},
		{args: []string{}, usage: "at least one HELPER"},
		{args: []string{"ftp", "--nft", "--iptables"}, usage: "exclude each other"},
		{args: []string{"ftp", "tftp", "--port", "1"}, usage: "--port applies to one helper"},
		{args: []string{"ftp", "--port", "70000"}, usage: "bad --port"},
		{args: []string{"ftp", "--iptables", "--table", "t"}, usage: "--chain"},
		{args: []string{"ftp", "--chain", "C"}, usage: "--table"},
		{args: []string{"ftp", "--family", "ipx"}, usage: "unknown family"},
		{args: []string{"dhcpv6", "--family", "inet"}, usage: "does not exist for inet"},
		{args: []string{"nope"}, usage: "not a built-in helper"},
		{args: []string{"ftp", "--table", "a;b"}, usage: "bad table name"},
	}
	for _, tt := range tests {
		var got *RulesOptions
		env := &cli.Env{}
		err := clitest.Execute(t, NewCmdRules(env, func(o *RulesOptions) error { got = o; return nil }), tt.args...)
		if tt.usage != "" {
			if cli.ExitCode(err) != cli.ExitUsage || !strings.Contains(err.Error(), tt.usage) {
				t.Errorf("%q: error %v (exit %d), want usage error with %q", tt.args, err, cli.ExitCode(err), tt.usage)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tt.args, err)
			continue
		}
		r := got.Rules
		if got.IPTables != tt.iptables || r.NAT != tt.nat || r.Family != tt.family || r.Table != tt.table || r.Chain != tt.chain ||
			len(r.Assigns) != 1 || !slicesEqual(r.Assigns[0].Ports, tt.ports) {
			t.Errorf("%q: got %+v", tt.args, got)
		}
	}
}

func slicesEqual(a, b []uint16) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
