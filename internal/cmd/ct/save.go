package ct

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/gonfct/gonfct/internal/cli"
	"github.com/gonfct/gonfct/internal/cmd/ctcli"
	"github.com/gonfct/gonfct/internal/output"
	"github.com/gonfct/gonfct/pkg/ctflow"
	"github.com/gonfct/gonfct/pkg/expect"
	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"
)

// ---- save

// SaveOptions serve `ct save`.
type SaveOptions struct {
	env    *cli.Env
	filter ctflow.Filter
	file   string
	quiet  bool
}

// NewCmdSave is `ct save`.
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
Conntracks are streamed as they are dumped, so memory stays flat. The save
format is JSON whatever -o says (-o table is refused).`,
		Args: cli.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if f, err := output.ParseFormat(orText(env.Output)); err != nil {
				return cli.Usage(err)
			} else if f == output.Table {
				return cli.Usagef("ct save writes its JSON save format: -o table does not apply")
			}
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
	ff.add(cmd.Flags())
	cmd.Flags().StringVar(&opts.file, "file", "", "write here instead of stdout (replaced atomically)")
	ctcli.QuietFlag(cmd, &opts.quiet)
	return cmd
}

func orText(format string) string {
	if format == "" {
		return string(output.Text)
	}
	return format
}

func saveRun(opts *SaveOptions) error {
	c, err := opts.env.Conn()
	if err != nil {
		return err
	}
	defer c.Close()
	// Expectations are read after the conntracks, through a second socket.
	ce, err := opts.env.Conn()
	if err != nil {
		return err
	}
	defer ce.Close()
	cl, exps := ctflow.NewClient(c), expect.NewClient(ce)
	var nf, ne int
	if opts.file != "" {
		nf, ne, err = ctflow.SaveToFile(opts.file, cl, opts.filter, exps, time.Now())
	} else {
		nf, ne, err = ctflow.Save(opts.env.Out, cl, opts.filter, exps, time.Now())
	}
	if err != nil {
		return err
	}
	ctcli.Say(opts.env, opts.quiet, "%d flow entries and %d expectations have been saved.", nf, ne)
	return nil
}

// ---- restore

// RestoreOptions serve `ct restore`.
type RestoreOptions struct {
	env     *cli.Env
	file    string
	dryRun  bool
	cont    bool
	replace bool
	verbose bool
	quiet   bool
}

// NewCmdRestore is `ct restore`.
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
so restoring twice changes nothing. Single failures do not stop the restore.

With --dry-run or --verbose each action is printed (-o text, table or json).
The count on stderr says what was restored, updated and skipped, skipped
entries follow with their reasons, and the exit status is 1 if anything was
skipped.`,
		Example: `  gonfct --netns standby ct restore < state.json
  gonfct ct restore --dry-run state.json -o json`,
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
	ctcli.QuietFlag(cmd, &opts.quiet)
	return cmd
}

// actionRecord is one thing restore does, or would do.
type actionRecord struct {
	dryRun bool
	action string // create, update, replace; restore for an expectation
	flow   *ctflow.Flow
	exp    *expect.Expectation
}

var actionColumns = []string{"ACTION", "ENTRY"}

func (r *actionRecord) verb() string {
	v := r.action
	if r.exp != nil {
		v += " expectation"
	}
	if r.dryRun {
		v = "would " + v
	}
	return v
}

func (r *actionRecord) AppendText(b []byte) []byte {
	b = append(b, r.verb()...)
	b = append(b, ' ')
	if r.exp != nil {
		return r.exp.AppendText(b)
	}
	return r.flow.AppendText(b)
}

func (r *actionRecord) Row() []string {
	var line []byte
	if r.exp != nil {
		line = r.exp.AppendText(nil)
	} else {
		line = r.flow.AppendText(nil)
	}
	return []string{r.verb(), strings.TrimSuffix(string(line), "\n")}
}

func (r *actionRecord) AppendJSON(b []byte) []byte {
	b = append(b, `{"action":"`...)
	b = append(b, r.action...)
	b = append(b, `","dry_run":`...)
	b = fmt.Append(b, r.dryRun)
	if r.exp != nil {
		b = append(b, `,"expectation":`...)
		b = r.exp.AppendJSON(b)
	} else {
		b = append(b, `,"conntrack":`...)
		b = r.flow.AppendJSON(b)
	}
	return append(b, '}')
}

func readSaveFile(env *cli.Env, file string) ([]byte, error) {
	if file != "" {
		return os.ReadFile(file)
	}
	if f, ok := env.In.(*os.File); ok {
		if _, terr := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS); terr == nil {
			return nil, cli.Usagef("ct restore reads a save file: give FILE or redirect one to stdin (gonfct ct restore < state.json)")
		}
	}
	return io.ReadAll(env.In)
}

func restoreRun(opts *RestoreOptions) error {
	env := opts.env
	w, err := env.Writer(output.List, actionColumns)
	if err != nil {
		return err
	}
	data, err := readSaveFile(env, opts.file)
	if err != nil {
		var ue *cli.UsageError
		if errors.As(err, &ue) {
			return err
		}
		return cli.Input(fmt.Errorf("read save file: %w", err))
	}
	src := opts.file
	if src == "" {
		src = "stdin"
	}
	_, entries, exps, err := ctflow.ParseSaveFile(data)
	if err != nil {
		return cli.Input(fmt.Errorf("%s: %w", src, err))
	}
	// Everything is checked before the first write.
	for _, e := range entries {
		if e.Err != nil && !opts.cont {
			return cli.Input(fmt.Errorf("%s: save file conntracks[%d] (line %d): %v (nothing was restored; --continue skips bad entries)", src, e.Index, e.Line, e.Err))
		}
	}
	for _, e := range exps {
		if e.Err != nil && !opts.cont {
			return cli.Input(fmt.Errorf("%s: save file expectations[%d]: %v (nothing was restored; --continue skips bad entries)", src, e.Index, e.Err))
		}
	}
	c, err := env.Conn()
	if err != nil {
		return err
	}
	defer c.Close()
	ropts := ctflow.RestoreOptions{DryRun: opts.dryRun, Replace: opts.replace}
	var werr error
	write := func(r *actionRecord) {
		if werr == nil {
			werr = w.Write(r)
		}
	}
	if opts.dryRun || opts.verbose {
		ropts.Plan = func(action string, f *ctflow.Flow) {
			write(&actionRecord{dryRun: opts.dryRun, action: action, flow: f})
		}
		ropts.PlanExpect = func(e *expect.Expectation) { write(&actionRecord{dryRun: opts.dryRun, action: "restore", exp: e}) }
	}
	report := ctflow.Restore(ctflow.NewClient(c), entries, exps, ropts)
	if err := w.Close(); werr == nil {
		werr = err
	}
	if werr != nil {
		return werr
	}
	if opts.dryRun {
		ctcli.Say(env, opts.quiet, "dry run: would restore %d, would update %d, would skip %d", report.Restored, report.Updated, report.Skipped)
	} else {
		ctcli.Say(env, opts.quiet, "restored %d, updated %d, skipped %d", report.Restored, report.Updated, report.Skipped)
	}
	for _, s := range report.Skips {
		fmt.Fprintf(env.Err, "gonfct: skipped %s: %v\n", s.What, adviseSkip(s.Err))
	}
	for _, s := range report.Warnings {
		fmt.Fprintf(env.Err, "gonfct: warning: %s: %v\n", s.What, s.Err)
	}
	if report.Skipped > 0 {
		return &cli.ExitError{Code: cli.ExitRuntime, Err: fmt.Errorf("%d of %d entries were not restored", report.Skipped, len(entries)+len(exps))}
	}
	return nil
}

// adviseSkip names the flag that would have applied a skipped entry.
func adviseSkip(err error) error {
	var hc *ctflow.HelperConflictError
	if errors.As(err, &hc) {
		return cli.Advise(err, "use --replace to delete and re-create it")
	}
	return err
}
