package cli

import (
	"errors"
	"regexp"
	"strings"
)

// pflag's complaints, whose words come from strconv and pflag's own
// internals (issue 19): FlagError says them in gonfct's.
var (
	invalidArg   = regexp.MustCompile(`^invalid argument "(.*)" for "(?:-\w, )?(--[\w-]+)" flag: (.*)$`)
	unknownShort = regexp.MustCompile(`^unknown shorthand flag: '(.)' in (-\S*)$`)
	needsArg     = regexp.MustCompile(`^flag needs an argument: (?:'(.)' in -\S*|(--[\w-]+))$`)
	unknownLong  = regexp.MustCompile(`^unknown flag: (--\S+)$`)
)

// FlagError turns a flag parsing error of the command at path ("gonfct
// ct list") into a usage error in gonfct's words; root and the groups
// that parse flags themselves use it.
func FlagError(path string, err error) error {
	if err == nil {
		return nil
	}
	var ue *UsageError
	if errors.As(err, &ue) {
		return err
	}
	msg := err.Error()
	if m := invalidArg.FindStringSubmatch(msg); m != nil {
		return Usagef("%s %q: %s", m[2], m[1], numberWant(m[1], m[3]))
	}
	if m := unknownShort.FindStringSubmatch(msg); m != nil {
		if isNumber(m[2][1:]) {
			return Usagef("%s is not a flag of %s (and no gonfct value is negative)", m[2], path)
		}
		if len(m[2]) > 2 {
			return Usagef("unknown flag -%s in %s for %s", m[1], m[2], path)
		}
		return Usagef("unknown flag -%s for %s", m[1], path)
	}
	if m := needsArg.FindStringSubmatch(msg); m != nil {
		if m[1] != "" {
			return Usagef("-%s needs a value", m[1])
		}
		return Usagef("%s needs a value", m[2])
	}
	if m := unknownLong.FindStringSubmatch(msg); m != nil {
		return Usagef("unknown flag %s for %s", m[1], path)
	}
	return Usage(err)
}

// numberWant says what a numeric flag wants, from strconv's complaint.
func numberWant(val, why string) string {
	switch {
	case strings.Contains(why, "ParseUint") && strings.HasPrefix(val, "-"):
		return "want a number, 0 or more"
	case strings.Contains(why, "out of range"):
		return "too large for this flag"
	case strings.Contains(why, "strconv."):
		return "want a whole number"
	}
	return strings.TrimPrefix(why, "strconv.")
}

func isNumber(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
