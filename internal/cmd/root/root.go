// Package root is the gonfct command: the global flags, nfct's word order,
// and the command groups, wired here one by one.
package root

import (
	"errors"
	"io"
	"slices"
	"strings"

	"github.com/gonfct/gonfct/internal/cli"
	"github.com/gonfct/gonfct/internal/cmd/completion"
	"github.com/gonfct/gonfct/internal/cmd/ct"
	"github.com/gonfct/gonfct/internal/cmd/expect"
	"github.com/gonfct/gonfct/internal/cmd/helper"
	"github.com/gonfct/gonfct/internal/cmd/man"
	"github.com/gonfct/gonfct/internal/cmd/rules"
	"github.com/gonfct/gonfct/internal/cmd/run"
	"github.com/gonfct/gonfct/internal/cmd/timeout"
	"github.com/spf13/cobra"
)

// NewCmdRoot builds the whole command tree over env; version is what
// --version prints.
func NewCmdRoot(env *cli.Env, version string) *cobra.Command {
	root := &cobra.Command{
		Use:   "gonfct",
		Short: "User-space conntrack helpers, expectations, conntracks and timeouts, end to end",
		Long: `gonfct manages Linux user-space conntrack helpers end to end.

  gonfct helper   helper objects (nfnetlink_cthelper), like nfct ... helper
  gonfct expect   expectations (ctnetlink), like conntrack ... expect
  gonfct ct       conntracks, with helper name and private data
  gonfct timeout  timeout policies (cttimeout), like nfct ... timeout
  gonfct run      the helper engine (NFQUEUE), like conntrackd's helper mode

nfct's word order works too: "gonfct add helper rpc inet udp".`,
		Example: `  gonfct helper add ftp inet tcp --enable     # a user-space helper object
  gonfct rules ftp | nft -f -                 # assign it to port 21
  gonfct helper list -o table
  gonfct --netns fw1 helper list              # in another network namespace`,
		Version:       version,
		SilenceUsage:  true,
		SilenceErrors: true,
		Args:          cobra.ArbitraryArgs,
		RunE:          cli.GroupRunE,
	}
	root.PersistentFlags().Var(cli.NetNSFlag{Env: env}, "netns", "work in this network namespace (a name from 'ip netns list', or a path)")
	root.PersistentFlags().StringVarP(&env.Output, "output", "o", "text", "output format: text, table or json")
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error { return cli.FlagError(cmd.CommandPath(), err) })
	// Our own completion command, with examples and a man page like every
	// other; cobra still serves the scripts' `__complete` requests.
	root.CompletionOptions.DisableDefaultCmd = true
	root.SetIn(env.In)
	root.SetOut(env.Out)
	root.SetErr(env.Err)
	root.AddCommand(
		run.NewCmdRun(env, nil),
		ct.NewCmdCt(env),
		expect.NewCmdExpect(env),
		helper.NewCmdHelper(env),
		timeout.NewCmdTimeout(env),
		rules.NewCmdRules(env, nil),
		completion.NewCmdCompletion(env, nil),
		man.NewCmdGenMan(env, newDocRoot, nil),
	)
	registerCompletions(root, env)
	return root
}

// newDocRoot is the tree the man pages document: fresh, on no streams.
func newDocRoot() *cobra.Command {
	return NewCmdRoot(&cli.Env{Out: io.Discard, Err: io.Discard}, "")
}

// Execute runs one command line on a tree from NewCmdRoot and returns its
// error, cobra's own complaints turned into usage errors.
func Execute(root *cobra.Command, args []string) error {
	root.SetArgs(nfctOrder(args))
	if err := root.Execute(); err != nil {
		return classify(err)
	}
	return nil
}

// Run executes one command line as the gonfct binary does and returns the
// exit status: 0, 1 for a runtime error, 2 for a usage error. The
// end-to-end tests (internal/e2e) run commands through it.
func Run(args []string, in io.Reader, out, errw io.Writer) int {
	env := &cli.Env{In: in, Out: out, Err: errw}
	return cli.Report(errw, Execute(NewCmdRoot(env, "dev"), args))
}

// classify turns cobra's own argument complaints into usage errors.
func classify(err error) error {
	var ue *cli.UsageError
	if errors.As(err, &ue) {
		return err
	}
	msg := err.Error()
	for _, p := range []string{"unknown flag", "unknown shorthand flag", "invalid argument", "flag needs an argument"} {
		if strings.HasPrefix(msg, p) {
			return cli.FlagError("gonfct", err)
		}
	}
	for _, p := range []string{"unknown command", "unknown flag", "unknown shorthand flag", "invalid argument", "flag needs an argument", "required flag", "accepts ", "requires at least", "if any flags in the group"} {
		if strings.HasPrefix(msg, p) {
			return cli.Usage(err)
		}
	}
	return err
}

var nfctVerbs = []string{"list", "add", "delete", "get", "flush", "disable", "enable", "update", "default-set", "default-get"}
var nfctSubsystems = []string{"helper", "timeout"}

// nfctOrder accepts nfct's word order, "add helper NAME ...", by swapping
// the verb and the subsystem, so boot scripts switch with one word changed.
func nfctOrder(args []string) []string {
	i := 0
	for i < len(args) && strings.HasPrefix(args[i], "-") {
		// Skip global flags given before the command words.
		if !strings.Contains(args[i], "=") && (args[i] == "--netns" || args[i] == "-o" || args[i] == "--output") {
			i++
		}
		i++
	}
	if i+1 < len(args) && slices.Contains(nfctVerbs, args[i]) && slices.Contains(nfctSubsystems, args[i+1]) {
		out := slices.Clone(args)
		out[i], out[i+1] = out[i+1], out[i]
		return out
	}
	return args
}
