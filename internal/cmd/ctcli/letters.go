package ctcli

import (
	"errors"
	"net/netip"
	"strings"

	"github.com/gonfct/gonfct/internal/cli"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// commandWords are conntrack's long command words and their letters.
var commandWords = map[string]string{
	"--dump": "-L", "--get": "-G", "--create": "-I", "--update": "-U", "--delete": "-D",
	"--flush": "-F", "--event": "-E", "--count": "-C", "--stats": "-S",
}

// Letters makes the group g take conntrack's command letters as well as
// words: `g -E [flags]` runs cmds["-E"] with the flags, wherever the
// letter (or its long word, --event) stands. cobra would take the letters
// for flags, so g parses its flags itself.
func Letters(g *cobra.Command, cmds map[string]*cobra.Command) {
	g.DisableFlagParsing = true
	g.RunE = func(cmd *cobra.Command, args []string) error {
		for i, a := range args {
			if l, ok := commandWords[a]; ok {
				a = l
			}
			if sub, ok := cmds[a]; ok {
				return RunSubcommand(sub, append(args[:i:i], args[i+1:]...))
			}
		}
		cmd.DisableFlagParsing = false
		defer func() { cmd.DisableFlagParsing = true }()
		if err := cmd.ParseFlags(args); err != nil {
			return cli.FlagError(cmd.CommandPath(), err)
		}
		if h, _ := cmd.Flags().GetBool("help"); h {
			return cmd.Help()
		}
		return cli.GroupRunE(cmd, cmd.Flags().Args())
	}
}

// RunSubcommand runs cmd with args as if cobra had routed them there.
func RunSubcommand(cmd *cobra.Command, args []string) error {
	cmd.InitDefaultHelpFlag()
	if err := cmd.ParseFlags(args); errors.Is(err, pflag.ErrHelp) {
		return cmd.Help()
	} else if err != nil {
		return cli.FlagError(cmd.CommandPath(), err)
	}
	if h, _ := cmd.Flags().GetBool("help"); h {
		return cmd.Help()
	}
	rest := cmd.Flags().Args()
	if err := cmd.ValidateArgs(rest); err != nil {
		return err
	}
	return cmd.RunE(cmd, rest)
}

// QuietArgs guards next against conntrack's -q ADDR: there -q is the
// reply destination, in gonfct --quiet, which takes no value, so the
// address would land among the arguments. A moved script must not
// silently select something else: an address after -q is refused, naming
// --reply-dst.
func QuietArgs(quiet *bool, next cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if *quiet {
			for _, a := range args {
				if isAddr(a) {
					return cli.Usagef("-q is gonfct's --quiet and takes no value: for conntrack's -q %s (reply destination) write --reply-dst %s", a, a)
				}
			}
		}
		return next(cmd, args)
	}
}

func isAddr(s string) bool {
	if _, err := netip.ParseAddr(s); err == nil {
		return true
	}
	if strings.Contains(s, "/") {
		_, err := netip.ParsePrefix(s)
		return err == nil
	}
	return false
}

// conntrackWords are conntrack's long option words that name one of
// gonfct's filter flags: accepted as aliases, shown once in help (as
// gonfct's name).
var conntrackWords = map[string]string{
	"orig-src": "src", "orig-dst": "dst",
	"orig-port-src": "sport", "orig-port-dst": "dport",
	"reply-port-src": "reply-sport", "reply-port-dst": "reply-dport",
	"protonum": "proto",
}

// ConntrackAliases makes fs take conntrack's long words for the flags it
// has (--orig-src for --src, --reply-port-dst for --reply-dport, ...).
func ConntrackAliases(fs *pflag.FlagSet) {
	prev := fs.GetNormalizeFunc()
	fs.SetNormalizeFunc(func(f *pflag.FlagSet, name string) pflag.NormalizedName {
		if to, ok := conntrackWords[name]; ok && f.Lookup(to) != nil {
			name = to
		}
		return prev(f, name)
	})
}
