package main

import (
	"errors"
	"slices"
	"strings"

	"github.com/gonfct/gonfct/internal/cli"
	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// commandGroups are the top-level command groups, each built over the
// shared Env. A new group is one line here.
var commandGroups = []func(*cli.Env) *cobra.Command{
	newRunCmd,
}

func newRootCmd(env *cli.Env) *cobra.Command {
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
		RunE:          groupRunE,
	}
	root.PersistentFlags().StringVar(&env.NetNS, "netns", "", "work in this network namespace (a name from 'ip netns list', or a path)")
	root.PersistentFlags().StringVarP(&env.Output, "output", "o", "text", "output format: text, table or json")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return cli.Usage(err) })
	for _, g := range commandGroups {
		root.AddCommand(g(env))
	}
	addCompletionCmd(env, root)
	return root
}

// groupRunE serves a command that only groups others: alone it shows its
// help; with a word it does not know, it is a usage error.
func groupRunE(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return cli.Usagef("unknown command %q for %q", args[0], cmd.CommandPath())
	}
	return cmd.Help()
}

// newGroup makes a command group.
func newGroup(use, short string, cmds ...*cobra.Command) *cobra.Command {
	g := &cobra.Command{Use: use, Short: short, RunE: groupRunE, Args: cobra.ArbitraryArgs}
	g.AddCommand(cmds...)
	return g
}

// classify turns cobra's own argument complaints into usage errors.
func classify(err error) error {
	var ue *cli.UsageError
	if errors.As(err, &ue) {
		return err
	}
	msg := err.Error()
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
