package ctflow

import (
	"strings"
	"testing"
)

func TestParseStatusFilter(t *testing.T) {
	for _, tc := range []struct {
		in         string
		set, clear Status
		err        string
	}{
		{"UNREPLIED", 0, StatusSeenReply, ""},
		{"assured,seen-reply", StatusAssured | StatusSeenReply, 0, ""},
		{"!ASSURED,unreplied", 0, StatusAssured | StatusSeenReply, ""},
		{"seen_reply,!expected", StatusSeenReply, StatusExpected, ""},
		{"", 0, 0, ""},
		{"!UNREPLIED", 0, 0, "means seen_reply"},
		{"assured,!assured", 0, 0, "nothing can match"},
		{"unreplied,seen_reply", 0, 0, "nothing can match"},
		{"unassured", 0, 0, "leading ! means"},
	} {
		set, clear, err := ParseStatusFilter(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: %v, want error with %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || set != tc.set || clear != tc.clear {
			t.Errorf("%q = %v, %v, %v; want %v, %v", tc.in, set, clear, err, tc.set, tc.clear)
		}
	}
	f := Filter{StatusClear: StatusSeenReply}
	if !f.Match(&Flow{Status: StatusConfirmed}) || f.Match(&Flow{Status: StatusSeenReply}) {
		t.Error("StatusClear does not select by a clear bit")
	}
}

func FuzzParseStatusFilter(f *testing.F) {
	for _, s := range []string{"UNREPLIED", "!assured,seen-reply", "x,,!"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		set, clear, err := ParseStatusFilter(s)
		if err == nil && set&clear != 0 {
			t.Errorf("%q: bits both set and clear: %v %v", s, set, clear)
		}
	})
}
