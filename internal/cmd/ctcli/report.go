package ctcli

import (
	"errors"
	"fmt"

	"github.com/gonfct/gonfct/internal/cli"
	"github.com/gonfct/gonfct/pkg/ctnl"
	"github.com/spf13/cobra"
)

// QuietFlag adds -q/--quiet, which drops the count line.
func QuietFlag(cmd *cobra.Command, q *bool) {
	cmd.Flags().BoolVarP(q, "quiet", "q", false, "do not report the count on stderr")
}

// Say prints a count line on stderr, in conntrack's words with gonfct's
// name ("gonfct: 3 flow entries have been shown."), whatever -o says:
// scripts that match conntrack's wording keep working, and a line that
// claimed to be conntrack would lie. quiet drops it.
func Say(env *cli.Env, quiet bool, format string, args ...any) {
	if !quiet {
		fmt.Fprintf(env.Err, "gonfct: "+format+"\n", args...)
	}
}

// Advise adds advice that names gonfct commands or flags to a netfilter
// error whose errno is in advice: pkg/ctflow and pkg/expect say what the
// kernel's answer means, the command line says what to type about it.
func Advise(err error, advice ctnl.Hints) error {
	var e *ctnl.Error
	if !errors.As(err, &e) {
		return err
	}
	a, ok := advice[ctnl.Errno(e.Err)]
	if !ok {
		return err
	}
	if e.Hint == "" {
		e.Hint = a
	} else {
		e.Hint += " (" + a + ")"
	}
	return err
}
