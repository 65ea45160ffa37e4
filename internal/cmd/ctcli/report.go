package ctcli

import (
	"fmt"
	"strconv"

	"github.com/gonfct/gonfct/internal/cli"
	"github.com/gonfct/gonfct/internal/output"
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

// Print runs fn with a writer in the format -o chose and a socket in the
// namespace, and closes both: the frame of every command that prints
// entries of a table. It returns the writer, whose Count is for the count
// line.
func Print(env *cli.Env, mode output.Mode, columns []string, fn func(c *ctnl.Conn, w *output.Writer) error) (*output.Writer, error) {
	w, err := env.Writer(mode, columns)
	if err != nil {
		return nil, err
	}
	c, err := env.Conn()
	if err != nil {
		return nil, err
	}
	defer c.Close()
	err = fn(c, w)
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	return w, err
}

// Change runs fn on a socket in the namespace and, if it succeeds, says
// done (a count line such as "1 flow entries have been created.").
func Change(env *cli.Env, quiet bool, done string, fn func(c *ctnl.Conn) error) error {
	c, err := env.Conn()
	if err != nil {
		return err
	}
	defer c.Close()
	if err := fn(c); err != nil {
		return err
	}
	Say(env, quiet, "%s", done)
	return nil
}

// Flush empties a table (all) or deletes what a filter selects, and says
// so: emptied is the table's line ("expectation table has been
// emptied."), noun its entries ("expectations"). del lists on c and
// deletes on a second socket, as conntrack -D does.
func Flush(env *cli.Env, quiet, all bool, emptied, noun string, flush func(c *ctnl.Conn) error,
	del func(c, c2 *ctnl.Conn) (int, error)) error {
	c, err := env.Conn()
	if err != nil {
		return err
	}
	defer c.Close()
	if all {
		if err := flush(c); err != nil {
			return err
		}
		Say(env, quiet, "%s", emptied)
		return nil
	}
	c2, err := env.Conn()
	if err != nil {
		return err
	}
	defer c2.Close()
	n, err := del(c, c2)
	if err != nil {
		return err
	}
	Say(env, quiet, "%d %s have been deleted.", n, noun)
	return nil
}

// CountRecord is what count commands print: the bare number, as
// conntrack -C does.
type CountRecord struct {
	Count int `json:"count"`
}

// CountColumns head a count in the table format.
var CountColumns = []string{"COUNT"}

func (r CountRecord) AppendText(b []byte) []byte {
	return append(strconv.AppendInt(b, int64(r.Count), 10), '\n')
}

func (r CountRecord) Row() []string { return []string{strconv.Itoa(r.Count)} }
