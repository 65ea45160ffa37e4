package root

import (
	"bytes"
	"slices"
	"strings"
	"testing"
)

// complete runs cobra's __complete for a command line whose last word is
// being typed, and returns the words offered.
func complete(t *testing.T, words ...string) []string {
	t.Helper()
	var out, errb bytes.Buffer
	if code := Run(append([]string{"__complete"}, words...), strings.NewReader(""), &out, &errb); code != 0 {
		t.Fatalf("__complete %q: exit %d, %s", words, code, errb.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) == 0 || !strings.HasPrefix(lines[len(lines)-1], ":") {
		t.Fatalf("__complete %q: no directive in %q", words, out.String())
	}
	return lines[:len(lines)-1]
}

// Values complete like commands do (issue 19, completion of values).
func TestCompletionOfValues(t *testing.T) {
	tuple := []string{"tcp", "10.0.0.1", "10.0.0.2", "1", "2"}
	for _, tt := range []struct {
		line []string
		want []string
		not  []string
	}{
		{[]string{"ct", "list", "-o", ""}, []string{"text", "table", "json"}, []string{"nfct"}},
		{[]string{"timeout", "list", "-o", ""}, []string{"text", "nfct"}, nil},
		{[]string{"helper", "list", "--output", ""}, []string{"nfct"}, nil},
		{[]string{"ct", "add", ""}, []string{"tcp", "udp", "sctp", "icmpv6"}, nil},
		{[]string{"expect", "delete", ""}, []string{"tcp", "udp"}, nil},
		{[]string{"ct", "list", "-p", ""}, []string{"tcp", "gre"}, nil},
		{[]string{"expect", "list", "--proto", ""}, []string{"udp"}, nil},
		{append(append([]string{"ct", "add"}, tuple...), "--state", ""), []string{"ESTABLISHED", "SYN_SENT"}, nil},
		{[]string{"ct", "add", "sctp", "10.0.0.1", "10.0.0.2", "1", "2", "--state", ""}, []string{"COOKIE_WAIT"}, []string{"SYN_SENT"}},
		{append(append([]string{"ct", "add"}, tuple...), "--helper", ""), []string{"ftp", "sip", "tftp"}, nil},
		{[]string{"expect", "list", "--helper", ""}, []string{"ftp"}, nil},
		{[]string{"helper", "add", ""}, []string{"ftp", "rpc", "ssdp"}, nil},
		{[]string{"helper", "add", "rpc", ""}, []string{"inet", "inet6"}, nil},
		{[]string{"helper", "add", "rpc", "inet", ""}, []string{"tcp", "udp"}, nil},
		{[]string{"helper", "add", "ftp", "inet", "tcp", "--policy", ""}, []string{"ftp:"}, nil},
		{[]string{"run", "--helper", ""}, []string{"ftp:inet:", "rpc:inet6:"}, nil},
		{[]string{"timeout", "add", "web", "inet", ""}, []string{"tcp", "udp", "generic"}, nil},
		{[]string{"timeout", "add", "web", "inet", "tcp", ""}, []string{"established", "close_wait"}, nil},
		{[]string{"timeout", "add", "web", "inet", "tcp", "established", "1h", ""}, []string{"time_wait"}, nil},
		{[]string{"timeout", "add", "web", "inet", "tcp", "established", ""}, nil, []string{"time_wait"}},
		{[]string{"timeout", "default-get", "inet", ""}, []string{"udp"}, nil},
		{[]string{"rules", ""}, []string{"ftp"}, nil},
	} {
		got := complete(t, tt.line...)
		for _, w := range tt.want {
			if !slices.Contains(got, w) {
				t.Errorf("complete %q: %q lacks %q", tt.line, got, w)
			}
		}
		for _, w := range tt.not {
			if slices.Contains(got, w) {
				t.Errorf("complete %q: %q offers %q", tt.line, got, w)
			}
		}
		if tt.want == nil && len(got) != 0 && tt.not == nil {
			t.Errorf("complete %q: %q, want nothing", tt.line, got)
		}
	}
}
