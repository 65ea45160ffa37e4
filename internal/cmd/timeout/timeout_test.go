package timeout

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/gonfct/gonfct/internal/cli"
	"github.com/gonfct/gonfct/internal/cli/clitest"
	"github.com/gonfct/gonfct/internal/output"
	"github.com/gonfct/gonfct/pkg/cttimeout"
	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

func tmo(t *testing.T, proto uint8, words ...string) cttimeout.Timeouts {
	t.Helper()
	tm, err := parseTimeouts(proto, words)
	if err != nil {
		t.Fatal(err)
	}
	return tm
}

var cmpTimeouts = cmp.AllowUnexported(cttimeout.Timeouts{})

func wantUsage(t *testing.T, args []string, err error, substr string) {
	t.Helper()
	if cli.ExitCode(err) != cli.ExitUsage || !strings.Contains(err.Error(), substr) {
		t.Errorf("%q: error %v (exit %d), want a usage error with %q", args, err, cli.ExitCode(err), substr)
	}
}

func TestTimeoutAddParsing(t *testing.T) {
	for _, tt := range []struct {
		args  []string
		want  cttimeout.Policy
		usage string
	}{
		{args: []string{"web", "inet", "tcp", "ESTABLISHED", "100", "syn_sent", "5"},
			want: cttimeout.Policy{Name: "web", Family: unix.AF_INET, Proto: unix.IPPROTO_TCP, Timeouts: tmo(t, unix.IPPROTO_TCP, "established", "100", "syn_sent", "5")}},
		{args: []string{"dns", "inet6", "udp", "replied", "1m"},
			want: cttimeout.Policy{Name: "dns", Family: unix.AF_INET6, Proto: unix.IPPROTO_UDP, Timeouts: tmo(t, unix.IPPROTO_UDP, "replied", "60")}},
		{args: []string{"o", "ipv6", "generic", "Timeout", "1d"},
			want: cttimeout.Policy{Name: "o", Family: unix.AF_INET6, Proto: cttimeout.ProtoGeneric, Timeouts: tmo(t, cttimeout.ProtoGeneric, "timeout", "86400")}},
		{args: []string{"g", "inet", "gre", "unreplied", "5"},
			want: cttimeout.Policy{Name: "g", Family: unix.AF_INET, Proto: unix.IPPROTO_GRE, Timeouts: tmo(t, unix.IPPROTO_GRE, "unreplied", "5")}},
		{args: []string{"web", "inet", "tcp"}, usage: "missing parameters"},
		{args: []string{"web", "inet", "tcp", "established"}, usage: "missing parameters"},
		{args: []string{"web", "inet", "tcp", "established", "1", "close"}, usage: `missing value for timeout state "close"`},
		{args: []string{"web", "inet", "tcp", "established", "1O"}, usage: `bad timeout "1O"`},
		{args: []string{"web", "inet", "tcp", "estab", "1"}, usage: "want one of syn_sent, syn_recv, established"},
		{args: []string{"web", "inet", "udp", "established", "1"}, usage: "want one of unreplied, replied"},
		{args: []string{"web", "inet", "tcp", "close", "1", "CLOSE", "2"}, usage: "given twice"},
		{args: []string{"web", "ipx", "tcp", "close", "1"}, usage: "unknown family"},
		{args: []string{"web", "inet", "esp", "timeout", "1"}, usage: "want tcp, udp, udplite"},
		{args: []string{strings.Repeat("n", 32), "inet", "tcp", "close", "1"}, usage: "at most 31"},
	} {
		var got *AddOptions
		err := clitest.Execute(t, NewCmdAdd(&cli.Env{}, func(o *AddOptions) error { got = o; return nil }), tt.args...)
		if tt.usage != "" {
			wantUsage(t, tt.args, err, tt.usage)
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tt.args, err)
			continue
		}
		if d := cmp.Diff(tt.want, got.Policy, cmpTimeouts); d != "" {
			t.Errorf("%q: (-want +got)\n%s", tt.args, d)
		}
	}
}

func TestTimeoutUpdateParsing(t *testing.T) {
	for _, tt := range []struct {
		args  []string
		want  UpdateOptions
		usage string
	}{
		{args: []string{"web", "established", "100"},
			want: UpdateOptions{Name: "web", Settings: []cttimeout.Setting{{State: "established", Seconds: 100}}}},
		{args: []string{"web", "inet", "tcp", "established", "100", "close", "2m"},
			want: UpdateOptions{Name: "web", Family: unix.AF_INET, Proto: unix.IPPROTO_TCP,
				Settings: []cttimeout.Setting{{State: "established", Seconds: 100}, {State: "close", Seconds: 120}}}},
		{args: []string{"web", "established"}, usage: "missing parameters"},
		{args: []string{"web", "inet", "tcp", "established"}, usage: "missing parameters"},
		{args: []string{"web", "inet", "tcp", "replied", "1"}, usage: "unknown tcp state"},
		{args: []string{"web", "established", "x"}, usage: "bad timeout"},
		{args: []string{"", "established", "1"}, usage: "empty timeout policy name"},
	} {
		var got *UpdateOptions
		err := clitest.Execute(t, NewCmdUpdate(&cli.Env{}, func(o *UpdateOptions) error { got = o; return nil }), tt.args...)
		if tt.usage != "" {
			wantUsage(t, tt.args, err, tt.usage)
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tt.args, err)
			continue
		}
		got.Env = nil
		if d := cmp.Diff(tt.want, *got); d != "" {
			t.Errorf("%q: (-want +got)\n%s", tt.args, d)
		}
	}
}

func TestTimeoutDefaultParsing(t *testing.T) {
	var set *DefaultSetOptions
	keepSet := func(o *DefaultSetOptions) error { set = o; return nil }
	if err := clitest.Execute(t, NewCmdDefaultSet(&cli.Env{}, keepSet), "inet", "tcp", "established", "3600"); err != nil {
		t.Fatal(err)
	}
	if set.Family != unix.AF_INET || set.Proto != unix.IPPROTO_TCP || set.Timeouts != tmo(t, unix.IPPROTO_TCP, "established", "3600") {
		t.Errorf("default-set parsed %+v", set)
	}
	var get *DefaultGetOptions
	keepGet := func(o *DefaultGetOptions) error { get = o; return nil }
	if err := clitest.Execute(t, NewCmdDefaultGet(&cli.Env{}, keepGet), "inet6", "icmpv6"); err != nil {
		t.Fatal(err)
	}
	if get.Family != unix.AF_INET6 || get.Proto != unix.IPPROTO_ICMPV6 {
		t.Errorf("default-get parsed %+v", get)
	}
	for _, tt := range []struct {
		get   bool
		args  []string
		usage string
	}{
		{false, []string{"inet", "tcp"}, "missing parameters"},
		{false, []string{"inet", "tcp", "established"}, "missing parameters"},
		{false, []string{"inet", "tcp", "established", "5x"}, "bad timeout"},
		{false, []string{"inet", "icmp", "established", "5"}, "want one of timeout"},
		{true, []string{"inet"}, "takes 2 argument"},
		{true, []string{"inet", "ospf"}, "no timeout states"},
	} {
		cmd := NewCmdDefaultSet(&cli.Env{}, keepSet)
		if tt.get {
			cmd = NewCmdDefaultGet(&cli.Env{}, keepGet)
		}
		wantUsage(t, tt.args, clitest.Execute(t, cmd, tt.args...), tt.usage)
	}
}

func TestTimeoutGetListDeleteParsing(t *testing.T) {
	var got *GetOptions
	keep := func(o *GetOptions) error { got = o; return nil }
	if err := clitest.Execute(t, NewCmdGet(&cli.Env{Output: "nfct"}, keep), "web"); err != nil || got.Name != "web" {
		t.Errorf("get web: %v %+v", err, got)
	}
	wantUsage(t, []string{"get", "-o", "xml"}, clitest.Execute(t, NewCmdGet(&cli.Env{Output: "xml"}, keep), "web"), "unknown output format")
	wantUsage(t, []string{"list", "-o", "xml"}, clitest.Execute(t, NewCmdList(&cli.Env{Output: "xml"}, keep)), "want one of text, table, json, nfct")
	wantUsage(t, []string{"get"}, clitest.Execute(t, NewCmdGet(&cli.Env{}, keep)), "takes 1 argument")
	wantUsage(t, []string{"list", "x"}, clitest.Execute(t, NewCmdList(&cli.Env{}, keep), "x"), "takes no arguments")

	var del *DeleteOptions
	keepDel := func(o *DeleteOptions) error { del = o; return nil }
	if err := clitest.Execute(t, NewCmdDelete(&cli.Env{}, keepDel), "web"); err != nil || del.Name != "web" {
		t.Errorf("delete web: %v %+v", err, del)
	}
	flushed := false
	if err := clitest.Execute(t, NewCmdFlush(&cli.Env{}, func(*FlushOptions) error { flushed = true; return nil })); err != nil || !flushed {
		t.Errorf("flush: %v", err)
	}
	wantUsage(t, []string{"delete", "a", "b"}, clitest.Execute(t, NewCmdDelete(&cli.Env{}, keepDel), "a", "b"), "takes 1 argument")
	wantUsage(t, []string{"delete", "long"}, clitest.Execute(t, NewCmdDelete(&cli.Env{}, keepDel), strings.Repeat("x", 40)), "at most 31")
}

func webPolicy() cttimeout.Policy {
	var t cttimeout.Timeouts
	for a, v := range []uint32{0, 5, 60, 432000, 120, 60, 30, 120, 10, 120, 300, 90} {
		if a > 0 {
			t.Set(uint16(a), v)
		}
	}
	return cttimeout.Policy{Name: "web", Family: unix.AF_INET, Proto: unix.IPPROTO_TCP, Use: 2, Timeouts: t}
}

func render(t *testing.T, f output.Format, mode output.Mode, cols []string, recs ...record) string {
	t.Helper()
	var buf bytes.Buffer
	w := output.NewWriter(&buf, f, mode, cols...)
	for _, r := range recs {
		if err := w.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

func TestTimeoutRecordText(t *testing.T) {
	udp := cttimeout.Policy{Family: unix.AF_INET6, Proto: unix.IPPROTO_UDP}
	udp.Timeouts.Set(1, 30)
	udp.Timeouts.Set(2, 3661)
	got := render(t, output.Text, output.List, columns, record{p: webPolicy()}, record{p: udp, defaults: true})
	want := `web inet tcp use 2
  syn_sent                 5
  syn_recv                60  1m
  established         432000  5d
  fin_wait               120  2m
  close_wait              60  1m
  last_ack                30
  time_wait              120  2m
  close                   10
  syn_sent2              120  2m
  retrans                300  5m
  unacknowledged          90  1m30s
defaults inet6 udp
  unreplied               30
  replied               3661  1h1m1s
`
	if got != want {
		t.Errorf("text:\n%s\nwant:\n%s", got, want)
	}
}

func TestTimeoutRecordJSON(t *testing.T) {
	got := render(t, output.JSON, output.List, columns, record{p: webPolicy()})
	want := `[
{"name":"web","family":"inet","protocol":"tcp","l3proto":2,"l4proto":6,"use":2,"timeouts":{"syn_sent":5,"syn_recv":60,"established":432000,"fin_wait":120,"close_wait":60,"last_ack":30,"time_wait":120,"close":10,"syn_sent2":120,"retrans":300,"unacknowledged":90}}
]
`
	if got != want {
		t.Errorf("json:\n%s\nwant:\n%s", got, want)
	}
	// Defaults have no name and no use; a name is JSON-escaped.
	p := webPolicy()
	p.Name = `we"b`
	var v map[string]any
	if err := json.Unmarshal([]byte(render(t, output.JSON, output.Single, nil, record{p: p})), &v); err != nil || v["name"] != `we"b` {
		t.Errorf("escaped name: %v %v", v, err)
	}
	d := render(t, output.JSON, output.Single, nil, record{p: webPolicy(), defaults: true})
	v = nil
	if err := json.Unmarshal([]byte(d), &v); err != nil {
		t.Fatal(err)
	}
	keys := make([]string, 0, len(v))
	for k := range v {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if want := []string{"family", "l3proto", "l4proto", "protocol", "timeouts"}; !slices.Equal(keys, want) {
		t.Errorf("defaults json keys %v, want %v", keys, want)
	}
}

func TestTimeoutRecordTableAndNfct(t *testing.T) {
	tab := render(t, output.Table, output.List, columns, record{p: webPolicy()})
	for _, s := range []string{"NAME", "TIMEOUTS", "web", "established=432000", "unacknowledged=90"} {
		if !strings.Contains(tab, s) {
			t.Errorf("table lacks %q:\n%s", s, tab)
		}
	}
	nf := render(t, output.Nfct, output.List, columns, record{p: webPolicy()})
	if !strings.HasPrefix(nf, ".web = {\n\t.l3proto = 2,\n\t.l4proto = 6,\n\t.policy = {\n\t\t.SYN_SENT = 5,\n") || !strings.HasSuffix(nf, "\t\t.UNACKNOWLEDGED = 90,\n\t},\n};\n") {
		t.Errorf("nfct format:\n%s", nf)
	}
}
