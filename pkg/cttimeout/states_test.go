package cttimeout

import (
	"errors"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestParseProto(t *testing.T) {
	for in, want := range map[string]uint8{
		"tcp": 6, "TCP": 6, "udp": 17, "udplite": 136, "icmp": 1, "icmpv6": 58, "ipv6-icmp": 58,
		"sctp": 132, "dccp": 33, "gre": 47, "generic": 255, "6": 6,
	} {
		got, err := ParseProto(in)
		if err != nil || got != want {
			t.Errorf("ParseProto(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"esp", "50", "", "tcpx"} {
		if _, err := ParseProto(in); err == nil || !strings.Contains(err.Error(), "tcp, udp, udplite") {
			t.Errorf("ParseProto(%q) = %v, want an error listing the protocols", in, err)
		}
	}
}

func TestStateAttrNamesNfctStates(t *testing.T) {
	for _, tc := range []struct {
		proto uint8
		name  string
		attr  uint16
	}{
		{unix.IPPROTO_TCP, "syn_sent", 1}, {unix.IPPROTO_TCP, "Established", 3}, {unix.IPPROTO_TCP, "UNACKNOWLEDGED", 11},
		{unix.IPPROTO_TCP, "syn_sent2", 9}, {unix.IPPROTO_UDP, "replied", 2}, {unix.IPPROTO_UDPLITE, "unreplied", 1},
		{unix.IPPROTO_GRE, "REPLIED", 2}, {unix.IPPROTO_ICMP, "timeout", 1}, {unix.IPPROTO_ICMPV6, "TIMEOUT", 1},
		{ProtoGeneric, "timeout", 1}, {unix.IPPROTO_SCTP, "shutdown_ack_sent", 7}, {unix.IPPROTO_SCTP, "heartbeat_sent", 8},
		{unix.IPPROTO_DCCP, "timewait", 7},
	} {
		got, err := StateAttr(tc.proto, tc.name)
		if err != nil || got != tc.attr {
			t.Errorf("StateAttr(%d, %q) = %d, %v; want %d", tc.proto, tc.name, got, err, tc.attr)
		}
	}
}

func TestWrongStateListsTheValidOnes(t *testing.T) {
	_, err := StateAttr(unix.IPPROTO_UDP, "established")
	if err == nil || err.Error() != `unknown udp state "established": want one of unreplied, replied` {
		t.Errorf("error = %v", err)
	}
	_, err = StateAttr(unix.IPPROTO_TCP, "estab")
	if err == nil || !strings.Contains(err.Error(), "syn_sent, syn_recv, established, fin_wait, close_wait, last_ack, time_wait, close, syn_sent2, retrans, unacknowledged") {
		t.Errorf("error = %v", err)
	}
}

func TestParseSettings(t *testing.T) {
	got, err := ParseSettings([]string{"established", "3600", "close", "10s", "time_wait", "2m", "syn_sent", "1h", "retrans", "1d", "fin_wait", "0"})
	if err != nil {
		t.Fatal(err)
	}
	want := []Setting{{"established", 3600}, {"close", 10}, {"time_wait", 120}, {"syn_sent", 3600}, {"retrans", 86400}, {"fin_wait", 0}}
	if len(got) != len(want) {
		t.Fatalf("got %v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("setting %d = %v, want %v", i, got[i], want[i])
		}
	}
	for _, words := range [][]string{
		nil,
		{"established"},
		{"established", "abc"},     // nfct's atoi would make this 0
		{"established", "-1"},      // and this 4294967295
		{"established", "12x"},     // unknown unit
		{"established", "5000000"}, // beyond MaxSeconds
		{"established", "60d"},     // likewise
		{"established", "1e3"},
		{"established", ""},
	} {
		if _, err := ParseSettings(words); err == nil || !errors.Is(err, ErrUsage) {
			t.Errorf("ParseSettings(%q) = %v, want a usage error", words, err)
		}
	}
}

func TestResolve(t *testing.T) {
	s, _ := ParseSettings([]string{"ESTABLISHED", "100", "syn_sent", "5"})
	got, err := Resolve(unix.IPPROTO_TCP, s)
	if err != nil {
		t.Fatal(err)
	}
	if want := timeouts(3, 100, 1, 5); got != want {
		t.Errorf("Resolve = %+v, want %+v", got, want)
	}
	s, _ = ParseSettings([]string{"established", "100", "Established", "5"})
	if _, err := Resolve(unix.IPPROTO_TCP, s); err == nil || !errors.Is(err, ErrUsage) || !strings.Contains(err.Error(), "twice") {
		t.Errorf("duplicate state: %v", err)
	}
	s, _ = ParseSettings([]string{"replied", "100"})
	if _, err := Resolve(unix.IPPROTO_TCP, s); err == nil || !errors.Is(err, ErrUsage) {
		t.Errorf("udp state for tcp: %v", err)
	}
}

func TestCheckName(t *testing.T) {
	if err := CheckName(strings.Repeat("a", 31)); err != nil {
		t.Error(err)
	}
	for _, n := range []string{"", strings.Repeat("a", 32), "a\x00b"} {
		if err := CheckName(n); err == nil || !errors.Is(err, ErrUsage) {
			t.Errorf("CheckName(%q) = %v", n, err)
		}
	}
}

func TestTimeoutsIgnoresOutOfRange(t *testing.T) {
	var tm Timeouts
	tm.Set(0, 1)
	tm.Set(maxAttr+1, 1)
	tm.Set(200, 1)
	if tm.Len() != 0 {
		t.Errorf("Len = %d after setting out-of-range attributes", tm.Len())
	}
}

func TestParseSeconds(t *testing.T) {
	for s, want := range map[string]uint32{
		"0": 0, "300": 300, "300s": 300, "5m": 300, "1h": 3600, "2d": 172800, "1h30m": 5400, "2m5s": 125,
		"1d2h3m4s": 93784, "4294967": MaxSeconds, "4294967s": MaxSeconds,
	} {
		if got, err := ParseSeconds(s); err != nil || got != want {
			t.Errorf("ParseSeconds(%q) = %d, %v; want %d", s, got, err, want)
		}
	}
	for _, s := range []string{"", "-1", "1.5", "1x", "h", "1h30", "30m1h", "1m1m", "4294968", "50d", "99999999999999999999", " 1", "1 h"} {
		if got, err := ParseSeconds(s); err == nil {
			t.Errorf("ParseSeconds(%q) = %d, want an error", s, got)
		} else if strings.Contains(err.Error(), "strconv") {
			t.Errorf("ParseSeconds(%q): Go internals in %q", s, err)
		}
	}
}

func FuzzParseSeconds(f *testing.F) {
	for _, s := range []string{"300", "5m", "1h30m", "1d2h3m4s", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseSeconds(s)
		if err == nil && n > MaxSeconds {
			t.Errorf("ParseSeconds(%q) = %d, above MaxSeconds", s, n)
		}
	})
}

func TestAppendDurationRoundTrip(t *testing.T) {
	for _, n := range []uint32{0, 1, 59, 60, 61, 3600, 5400, 86399, 86400, 93784, MaxSeconds} {
		s := string(AppendDuration(nil, n))
		if got, err := ParseSeconds(s); err != nil || got != n {
			t.Errorf("ParseSeconds(AppendDuration(%d) = %q) = %d, %v", n, s, got, err)
		}
	}
}
