package cli

import (
	"github.com/gonfct/gonfct/pkg/cttimeout"
)

// ParseSeconds reads a duration flag (what: "--timeout") in whole seconds,
// from min to max: 300, 300s, 5m, 1h30m, 2d. Every gonfct duration goes
// through cttimeout.ParseSeconds, so `ct add -t 1h` takes what `timeout
// add` takes.
func ParseSeconds(what, s string, min, max uint32) (uint32, error) {
	n, err := cttimeout.ParseSeconds(s)
	if err != nil || n < min || n > max {
		return 0, Usagef("%s %q: want a duration from %s to %s: seconds (300) or with units (300s, 5m, 1h30m, 2d)",
			what, s, FormatSeconds(min), FormatSeconds(max))
	}
	return n, nil
}

// FormatSeconds writes seconds as ParseSeconds reads them back: 1h30m, 5d, 45s.
func FormatSeconds(secs uint32) string {
	return string(cttimeout.AppendDuration(nil, secs))
}
