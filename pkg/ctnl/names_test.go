package ctnl

import (
	"errors"
	"os"
	"strings"
	"testing"
)

func TestParseProto(t *testing.T) {
	for s, want := range map[string]uint8{"tcp": 6, "UDP": 17, "icmp6": 58, "ipv6-icmp": 58, "47": 47, "0": 0, "255": 255} {
		if got, err := ParseProto(s); err != nil || got != want {
			t.Errorf("ParseProto(%q) = %d, %v; want %d", s, got, err, want)
		}
	}
	// 300 is a number: the message says which numbers are protocols
	// rather than asking for "a number".
	for s, want := range map[string]string{
		"300":                  "protocol number 300 is out of range: IP protocol numbers go from 0 to 255",
		"99999999999999999999": "out of range",
		"tcpp":                 `unknown protocol "tcpp": want tcp,`,
		"-1":                   "a protocol number from 0 to 255",
	} {
		if _, err := ParseProto(s); err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "strconv") {
			t.Errorf("ParseProto(%q): %v, want %q", s, err, want)
		}
	}
}

// A --netns file that is not a network namespace is said to be one, not
// answered with setns's bare EINVAL (issue 19, defect 6).
func TestDialNotANetNS(t *testing.T) {
	plain := t.TempDir() + "/plain"
	if err := os.WriteFile(plain, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{plain, "/proc/self/ns/mnt", "/proc"} {
		_, err := Dial(DialOptions{NetNS: path})
		if !errors.Is(err, ErrNotNetNS) || !strings.Contains(err.Error(), "open network namespace "+path+": not a network namespace") {
			t.Errorf("Dial in %s: %v, want ErrNotNetNS", path, err)
		}
	}
}
