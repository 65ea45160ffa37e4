package ct

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/gonfct/gonfct/internal/cli"
	"github.com/gonfct/gonfct/pkg/ctflow"
	"github.com/gonfct/gonfct/pkg/expect"
	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"
)

// ---- save and restore

type SaveOptions struct {
	env    *cli.Env
	filter ctflow.Filter
	file   string
	quiet  bool
}

func NewCmdSave(env *cli.Env, runF func(*SaveOptions) error) *cobra.Command {
	opts := &SaveOptions{env: env}
	var ff filterFlags
	cmd := &cobra.Command{
		Use:   "save [filters] [> state.json]",
		Short: "Write conntracks (with helper name and private data) and their expectations as versioned JSON",
		Example: `  gonfct ct save > state.json
  gonfct ct save -q --file /run/gonfct/state.json      # replaced atomically
  gonfct ct save --helper ftp | jq '.conntracks | length'`,
		Long: `Write the conntrack table (or the part that passes the filters) and the
expectations of the namespace to stdout (or --file) in the save format of
docs/json.md: {"version":1,"conntracks":[...],"expectations":[...]}.
Conntracks are streamed as they are dumped, so memory stays flat.`,
		Args: cli.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var err error
			if opts.filter, err = ff.filter(); err != nil {
				return err
			}
			if runF != nil {
				return runF(opts)
			}
			return saveRun(opts)
		},
	}
	addFilterFlags(cmd.Flags(), &ff)
	cmd.Flags().StringVar(&opts.file, "file", "", "write here instead of stdout (replaced atomically)")
	quietFlag(cmd, &opts.quiet)
	return cmd
}

func saveRun(opts *SaveOptions) error {
	c, err := opts.env.Conn()
	if err != nil {
		return err
	}
	defer c.Close()
	out := opts.env.Out
	var tmp *os.File
	if opts.file != "" {
		tmp, err = os.CreateTemp(dirOf(opts.file), ".gonfct-save-*")
		if err != nil {
			return fmt.Errorf("save to %s: %w", opts.file, err)
		}
		defer os.Remove(tmp.Name())
		defer tmp.Close()
		out = tmp
	}
	// Expectations are read after the conntracks, through a second socket.
	ce, err := opts.env.Conn()
	if err != nil {
		return err
	}
	defer ce.Close()
	nf, ne, err := ctflow.Save(out, ctflow.NewClient(c), &opts.filter, ce, time.Now())
	if err != nil {
		return err
	}
	if tmp != nil {
		if err := tmp.Close(); err != nil {
			return err
		}
		if err := os.Rename(tmp.Name(), opts.file); err != nil {
			return fmt.Errorf("save to %s: %w", opts.file, err)
		}
	}
	summary(opts.env, opts.quiet, "%d flow entries and %d expectations have been saved.", nf, ne)
	return nil
}

func dirOf(path string) string {
	if i := strings.LastIndexByte(path, '/'); i >= 0 {
		return path[:i+1]
	}
	return "."
}

type RestoreOptions struct {
	env     *cli.Env
	file    string
	dryRun  bool
	cont    bool
	replace bool
	verbose bool
}

func NewCmdRestore(env *cli.Env, runF func(*RestoreOptions) error) *cobra.Command {
	opts := &RestoreOptions{env: env}
	cmd := &cobra.Command{
		Use:   "restore [FILE] [< state.json]",
		Short: "Restore a save file: conntracks (masters first), then expectations; idempotent",
		Long: `Restore a 'gonfct ct save' file (from FILE or stdin) into this namespace.

The whole file is checked first: corrupt JSON is reported with its line and
column, a bad entry with its index, and nothing is applied unless --continue
(which skips bad entries). Then conntracks without a master are created first,
expected conntracks next, expectations last. An entry that exists already is
updated in place (timeout, mark, status, state, labels, helper private data),
so restoring twice changes nothing. Single failures do not stop the restore;
the summary on stderr lists what was restored, updated and skipped, with
reasons, and the exit status is 1 if anything was skipped.`,
		Example: `  gonfct --netns standby ct restore < state.json
  gonfct ct restore --dry-run state.json`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				opts.file = args[0]
			}
			if runF != nil {
				return runF(opts)
			}
			return restoreRun(opts)
		},
	}
	cmd.Flags().BoolVarP(&opts.dryRun, "dry-run", "n", false, "print what would be done; change nothing")
	cmd.Flags().BoolVar(&opts.cont, "continue", false, "skip invalid entries instead of refusing the whole file")
	cmd.Flags().BoolVar(&opts.replace, "replace", false, "delete and re-create a conntrack whose helper differs from the saved one")
	cmd.Flags().BoolVarP(&opts.verbose, "verbose", "v", false, "print each action")
	return cmd
}

func restoreRun(opts *RestoreOptions) error {
	env := opts.env
	var (
		data []byte
		err  error
	)
	if opts.file != "" {
		data, err = os.ReadFile(opts.file)
	} else {
		if f, ok := env.In.(*os.File); ok {
			if _, terr := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS); terr == nil {
				return cli.Usagef("ct restore reads a save file: give FILE or redirect one to stdin (gonfct ct restore < state.json)")
			}
		}
		data, err = io.ReadAll(env.In)
	}
	if err != nil {
		return fmt.Errorf("read save file: %w", err)
	}
	_, entries, exps, err := ctflow.ParseSaveFile(data)
	if err != nil {
		return cli.Usage(err)
	}
	// Everything is checked before the first write.
	for _, e := range entries {
		if e.Err != nil && !opts.cont {
			return cli.Usagef("save file conntracks[%d] (line %d): %v (nothing was restored; --continue skips bad entries)", e.Index, e.Line, e.Err)
		}
	}
	for _, e := range exps {
		if e.Err != nil && !opts.cont {
			return cli.Usagef("save file expectations[%d]: %v (nothing was restored; --continue skips bad entries)", e.Index, e.Err)
		}
	}
	c, err := env.Conn()
	if err != nil {
		return err
	}
	defer c.Close()
	verb := ""
	if opts.dryRun {
		verb = "would "
	}
	ropts := ctflow.RestoreOptions{DryRun: opts.dryRun, Replace: opts.replace}
	if opts.dryRun || opts.verbose {
		ropts.Plan = func(action string, f *ctflow.Flow) {
			fmt.Fprintf(env.Out, "%s%s %s", verb, action, f.AppendText(nil))
		}
		ropts.PlanExpect = func(e *expect.Expectation) {
			fmt.Fprintf(env.Out, "%srestore expectation %s\n", verb, e.AppendText(nil))
		}
	}
	report := ctflow.Restore(ctflow.NewClient(c), entries, exps, ropts)
	if opts.dryRun {
		fmt.Fprintf(env.Err, "gonfct: dry run: would restore %d, would update %d, would skip %d\n", report.Restored, report.Updated, report.Skipped)
	} else {
		fmt.Fprintf(env.Err, "gonfct: restored %d, updated %d, skipped %d\n", report.Restored, report.Updated, report.Skipped)
	}
	for _, s := range report.Skips {
		fmt.Fprintf(env.Err, "gonfct: skipped %s: %s\n", s.What, s.Reason)
	}
	for _, w := range report.Warnings {
		fmt.Fprintf(env.Err, "gonfct: warning: %s: %s\n", w.What, w.Reason)
	}
	if report.Skipped > 0 {
		return &cli.ExitError{Code: cli.ExitRuntime, Err: fmt.Errorf("%d of %d entries were not restored", report.Skipped, len(entries)+len(exps))}
	}
	return nil
}
