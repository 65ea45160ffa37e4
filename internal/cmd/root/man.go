package root

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/gonfct/gonfct/internal/cli"
	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

// manDate is the date the man pages carry. It is fixed, not the build
// time, so that regenerating them changes nothing unless the commands do
// (TestManPagesCurrent relies on it); bump it when releasing.
var manDate = time.Date(2026, time.November, 23, 0, 0, 0, 0, time.UTC)

// newCmdGenMan is the hidden command behind `make man`.
func newCmdGenMan(env *cli.Env) *cobra.Command {
	return &cobra.Command{
		Use:    "gen-man DIR",
		Short:  "Write the man pages of every command into DIR (make man)",
		Hidden: true,
		Args:   cli.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			n, err := genManPages(args[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(env.Out, "wrote %d man pages to %s\n", n, args[0])
			return nil
		},
	}
}

// genManPages writes gonfct.8 and one page per command (gonfct-helper-add.8,
// ...) into dir, from the same command tree the binary runs, and returns
// how many it wrote.
func genManPages(dir string) (int, error) {
	root := NewCmdRoot(&cli.Env{Out: io.Discard, Err: io.Discard}, "")
	// Execute adds these two on the fly; the man pages should show them.
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd()
	n := 0
	var walk func(*cobra.Command)
	walk = func(c *cobra.Command) {
		c.DisableAutoGenTag = true
		if c.IsAvailableCommand() || c == root {
			n++
		}
		for _, s := range c.Commands() {
			walk(s)
		}
	}
	walk(root)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, err
	}
	header := &doc.GenManHeader{Title: "GONFCT", Section: "8", Date: &manDate, Source: "gonfct", Manual: "gonfct manual"}
	return n, doc.GenManTree(root, header, dir)
}
