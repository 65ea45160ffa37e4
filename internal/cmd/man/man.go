// Package man is the hidden `gonfct gen-man DIR` behind `make man`: the man
// pages of every command, from the same command tree the binary runs.
package man

import (
	"fmt"
	"os"
	"time"

	"github.com/gonfct/gonfct/internal/cli"
	"github.com/gonfct/gonfct/internal/output"
	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

// date is the date the man pages carry. It is fixed, not the build time,
// so that regenerating them changes nothing unless the commands do
// (TestManPagesCurrent relies on it); bump it when releasing.
var date = time.Date(2026, time.November, 23, 0, 0, 0, 0, time.UTC)

// GenManOptions are the words of `gen-man`.
type GenManOptions struct {
	Env *cli.Env
	Dir string
	// NewRoot builds a fresh command tree to document (the running one
	// has parsed flags and cobra's additions of the moment).
	NewRoot func() *cobra.Command
}

// NewCmdGenMan makes the hidden `gen-man` command.
func NewCmdGenMan(env *cli.Env, newRoot func() *cobra.Command, runF func(*GenManOptions) error) *cobra.Command {
	return &cobra.Command{
		Use:    "gen-man DIR",
		Short:  "Write the man pages of every command into DIR (make man)",
		Hidden: true,
		Args:   cli.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts := &GenManOptions{Env: env, Dir: args[0], NewRoot: newRoot}
			if runF != nil {
				return runF(opts)
			}
			return genManRun(opts)
		},
	}
}

// written says what gen-man did.
type written struct {
	Pages int    `json:"pages"`
	Dir   string `json:"dir"`
}

func (r written) AppendText(b []byte) []byte {
	return fmt.Appendf(b, "wrote %d man pages to %s\n", r.Pages, r.Dir)
}
func (r written) Row() []string { return []string{fmt.Sprint(r.Pages), r.Dir} }

func genManRun(opts *GenManOptions) error {
	w, err := opts.Env.Writer(output.Single, []string{"PAGES", "DIR"})
	if err != nil {
		return err
	}
	n, err := GenPages(opts.NewRoot(), opts.Dir)
	if err != nil {
		return err
	}
	if err := w.Write(written{n, opts.Dir}); err != nil {
		return err
	}
	return w.Close()
}

// GenPages writes gonfct.8 and one page per command (gonfct-helper-add.8,
// ...) of root into dir, and returns how many it wrote.
func GenPages(root *cobra.Command, dir string) (int, error) {
	// Execute adds the help command on the fly; the man pages should show it.
	root.InitDefaultHelpCmd()
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
	header := &doc.GenManHeader{Title: "GONFCT", Section: "8", Date: &date, Source: "gonfct", Manual: "gonfct manual"}
	return n, doc.GenManTree(root, header, dir)
}
