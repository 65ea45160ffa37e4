package cli

import (
	"errors"
	"strings"
	"testing"
)

// pflag's words (strconv's, its own) become gonfct's (issue 19, defect 6).
func TestFlagError(t *testing.T) {
	for in, want := range map[string]string{
		`invalid argument "-1" for "--queue" flag: strconv.ParseUint: parsing "-1": invalid syntax`:                       `--queue "-1": want a number, 0 or more`,
		`invalid argument "x" for "-c, --count" flag: strconv.ParseInt: parsing "x": invalid syntax`:                      `--count "x": want a whole number`,
		`invalid argument "99999999999" for "--queue" flag: strconv.ParseUint: parsing "99999999999": value out of range`: `--queue "99999999999": too large for this flag`,
		`invalid argument "" for "--netns" flag: empty: give a name`:                                                      `--netns "": empty: give a name`,
		`unknown shorthand flag: '5' in -5`:                                                                               `-5 is not a flag of gonfct ct list (and no gonfct value is negative)`,
		`unknown shorthand flag: 'z' in -zx`:                                                                              `unknown flag -z in -zx for gonfct ct list`,
		`unknown shorthand flag: 'c' in -c`:                                                                               `unknown flag -c for gonfct ct list`,
		`flag needs an argument: 'c' in -c`:                                                                               `-c needs a value`,
		`flag needs an argument: --count`:                                                                                 `--count needs a value`,
		`unknown flag: --count`:                                                                                           `unknown flag --count for gonfct ct list`,
		`bad flag syntax: ---x`:                                                                                           `bad flag syntax: ---x`,
	} {
		err := FlagError("gonfct ct list", errors.New(in))
		if ExitCode(err) != ExitUsage || err.Error() != want {
			t.Errorf("FlagError(%q) = %q (exit %d), want %q", in, err, ExitCode(err), want)
		}
		for _, internal := range []string{"strconv", "shorthand", "parsing"} {
			if strings.Contains(err.Error(), internal) {
				t.Errorf("FlagError(%q) = %q still says %q", in, err, internal)
			}
		}
	}
}
