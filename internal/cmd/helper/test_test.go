package helper

import (
	"strings"
	"testing"

	"github.com/gonfct/gonfct/internal/cli"
	"github.com/gonfct/gonfct/internal/cli/clitest"
	"github.com/gonfct/gonfct/pkg/cthelper/pattern"
)

func TestHelperTestParsing(t *testing.T) {
	tests := []struct {
		args  []string
		ports []uint16
		want  int
		usage string
	}{
		{args: []string{"ftp", "--pcap", "x.pcap"}, ports: []uint16{21}, want: -1},
		{args: []string{"ftp", "--pcap", "x.pcap", "--port", "2121", "--port", "21", "--expect", "0", "--loose"}, ports: []uint16{2121, 21}, want: 0},
		{args: []string{"ftp", "--pcap", "x.pcap", "--option", "low-ports=yes"}, ports: []uint16{21}, want: -1},
		{args: []string{"ftp"}, usage: "needs --pcap"},
		{args: []string{"--pcap", "x"}, usage: "takes 1 argument"},
		{args: []string{"nosuch", "--pcap", "x"}, usage: "not a built-in helper"},
		{args: []string{"ftp", "--pcap", "x", "--option", "loose"}, usage: "want KEY=VALUE"},
		{args: []string{"ftp", "--pcap", "x", "--option", "bogus=1"}, usage: "bogus"},
		{args: []string{"ftp", "--pcap", "x", "--port", "0"}, usage: "bad --port"},
		{args: []string{"ftp", "--pcap", "x", "--expect", "-2"}, usage: "--expect"},
		{args: []string{"lobby", "--pcap", "x"}, usage: "give the file that declares it with --config"},
		{args: []string{"lobby", "--pcap", "x", "--config", "../../../docs/examples/helpers.conf"}, usage: `declares no helper "lobby" (it declares ftp)`},
		{args: []string{"lobby", "--pcap", "x", "--config", "../../../docs/examples/helper/lobby/lobby.conf", "--option", "loose=maybe"}, usage: "lobby.conf:9:2: helper lobby: option loose"},
		{args: []string{"lobby", "--pcap", "x", "--config", "missing.conf"}, usage: "missing.conf"},
	}
	for _, tt := range tests {
		var got *TestOptions
		err := clitest.Execute(t, NewCmdTest(&cli.Env{}, func(o *TestOptions) error { got = o; return nil }), tt.args...)
		if tt.usage != "" {
			if cli.ExitCode(err) != cli.ExitUsage || !strings.Contains(err.Error(), tt.usage) {
				t.Errorf("%q: %v (exit %d), want a usage error with %q", tt.args, err, cli.ExitCode(err), tt.usage)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tt.args, err)
			continue
		}
		if got.Want != tt.want || got.Helper.Name != "ftp" || len(got.Helper.Ports) != len(tt.ports) || got.Helper.Ports[0] != tt.ports[0] {
			t.Errorf("%q: %+v", tt.args, got)
		}
	}
}

// A helper from the config file: its Type blocks (here inet and inet6),
// any port, the file's policy timeout.
func TestHelperTestConfig(t *testing.T) {
	var got *TestOptions
	err := clitest.Execute(t, NewCmdTest(&cli.Env{}, func(o *TestOptions) error { got = o; return nil }),
		"lobby", "--pcap", "x", "--config", "../../../docs/examples/helper/lobby/lobby.conf")
	if err != nil {
		t.Fatal(err)
	}
	h := got.Helper
	if h.Name != "lobby" || len(h.Ports) != 0 || len(h.Families) != 2 || len(h.Protos) != 1 || h.Timeout != 60 || h.PrivLen != pattern.PrivLen {
		t.Errorf("%+v", h)
	}
	if _, ok := h.Parser.(byTuple); !ok {
		t.Errorf("parser %T: want one per Type block", h.Parser)
	}
}
