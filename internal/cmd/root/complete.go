package root

import (
	"os"
	"slices"
	"strings"

	"github.com/gonfct/gonfct/internal/cli"
	"github.com/gonfct/gonfct/internal/output"
	"github.com/gonfct/gonfct/pkg/ctflow"
	"github.com/gonfct/gonfct/pkg/cthelper"
	"github.com/gonfct/gonfct/pkg/cthelper/builtin"
	"github.com/gonfct/gonfct/pkg/ctnl"
	"github.com/gonfct/gonfct/pkg/cttimeout"
	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"
)

// Completion of values: what the shell offers after a flag or for an
// argument, the same wherever the flag or argument appears. Names that
// live in the kernel (user-space helpers, timeout policies) are asked of
// it, in the namespace --netns names; where it cannot answer, the shell
// gets the names gonfct knows itself.

type completer = func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective)

// kernelHelpers are the helpers Linux ships as modules (nf_conntrack_*),
// by the names a conntrack's helper= shows.
var kernelHelpers = []string{"amanda", "ftp", "irc", "netbios-ns", "pptp", "Q.931", "RAS", "sane", "sip", "snmp", "tftp"}

var protocols = []string{"tcp", "udp", "udplite", "sctp", "dccp", "icmp", "icmpv6", "gre"}

// fixed offers words, nothing else (no file names).
func fixed(words ...string) completer {
	return func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return words, cobra.ShellCompDirectiveNoFileComp
	}
}

// netnsNames are the names `ip netns add` made (/run/netns).
func netnsNames(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	var names []string
	des, _ := os.ReadDir("/run/netns")
	for _, de := range des {
		names = append(names, de.Name())
	}
	return names, cobra.ShellCompDirectiveNoFileComp
}

// formats are -o's words; helper and timeout listings print nfct's too.
func formats(cmd *cobra.Command, _ []string, _ string) ([]string, cobra.ShellCompDirective) {
	f := []string{string(output.Text), string(output.Table), string(output.JSON)}
	p := cmd.CommandPath()
	if strings.HasPrefix(p, "gonfct timeout") || p == "gonfct helper list" || p == "gonfct helper get" {
		f = append(f, string(output.Nfct))
	}
	return f, cobra.ShellCompDirectiveNoFileComp
}

// conn dials the kernel for a completion. cobra parses the command line
// twice while completing, so each --netns is there twice.
func conn(env *cli.Env) (*ctnl.Conn, error) {
	e := *env
	e.NetNS = slices.Compact(slices.Clone(env.NetNS))
	return e.Conn()
}

// userHelpers are the user-space helpers the kernel has (nfnetlink_cthelper).
func userHelpers(env *cli.Env) []string {
	c, err := conn(env)
	if err != nil {
		return nil
	}
	defer c.Close()
	hs, err := cthelper.NewClient(c).List()
	if err != nil {
		return nil
	}
	var names []string
	for _, h := range hs {
		if !slices.Contains(names, h.Name) {
			names = append(names, h.Name)
		}
	}
	return names
}

// timeoutNames are the kernel's timeout policies (cttimeout).
func timeoutNames(env *cli.Env) completer {
	return func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		c, err := conn(env)
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		defer c.Close()
		var names []string
		_ = cttimeout.List(c, func(p cttimeout.Policy) error {
			if !slices.Contains(names, p.Name) {
				names = append(names, p.Name)
			}
			return nil
		})
		return names, cobra.ShellCompDirectiveNoFileComp
	}
}

// conntrackHelpers are what a conntrack's --helper may name: the kernel's
// user-space helpers and the kernel's own.
func conntrackHelpers(env *cli.Env) completer {
	return func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		names := userHelpers(env)
		for _, k := range kernelHelpers {
			if !slices.Contains(names, k) {
				names = append(names, k)
			}
		}
		return names, cobra.ShellCompDirectiveNoFileComp
	}
}

// helperObjects are the user-space helpers the kernel has, else (none,
// or no nfnetlink_cthelper) the built-in ones gonfct can add.
func helperObjects(env *cli.Env) completer {
	return func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		if names := userHelpers(env); len(names) > 0 {
			return names, cobra.ShellCompDirectiveNoFileComp
		}
		return builtin.Registry.Names(), cobra.ShellCompDirectiveNoFileComp
	}
}

// runHelpers start --helper NAME:FAMILY:PROTO[:...] with a built-in name.
func runHelpers(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	var words []string
	for _, n := range builtin.Registry.Names() {
		words = append(words, n+":inet:", n+":inet6:")
	}
	return words, cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveNoSpace
}

// policies are --policy's NAME: for the helper named first.
func policies(_ *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
	var words []string
	if len(args) > 0 {
		if spec, ok := builtin.Registry.Lookup(args[0]); ok {
			for _, p := range spec.Policies {
				words = append(words, p.Name+":")
			}
		}
	}
	return words, cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveNoSpace
}

// states are --state's words for the conntrack's protocol (TCP's unless
// the first argument names another).
func states(_ *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
	proto := uint8(unix.IPPROTO_TCP)
	if len(args) > 0 {
		if p, err := ctnl.ParseProto(args[0]); err == nil {
			proto = p
		}
	}
	return ctflow.StateNames(proto), cobra.ShellCompDirectiveNoFileComp
}

// timeoutStates completes "PROTO STATE SECS STATE SECS ..." from the
// argument at first: the protocol, then a state name at each pair's start.
func timeoutStates(first int) completer {
	return func(_ *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
		switch n := len(args); {
		case n == first:
			return cttimeoutProtos(), cobra.ShellCompDirectiveNoFileComp
		case n > first && (n-first-1)%2 == 0:
			p, err := cttimeout.ParseProto(args[first])
			if err != nil {
				break
			}
			var words []string
			for _, s := range cttimeout.States(p) {
				words = append(words, strings.ToLower(s.Name))
			}
			return words, cobra.ShellCompDirectiveNoFileComp
		}
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
}

func cttimeoutProtos() []string {
	return strings.Split(strings.ReplaceAll(strings.ReplaceAll(cttimeout.ProtoNames, " or ", ", "), ",", ""), " ")
}

// positional completes each argument with its own completer (nil: none);
// the last goes on for the arguments after it.
func positional(per ...completer) completer {
	return func(cmd *cobra.Command, args []string, s string) ([]string, cobra.ShellCompDirective) {
		i := min(len(args), len(per)-1)
		if per[i] == nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return per[i](cmd, args, s)
	}
}

// registerCompletions gives the tree's flags and arguments their value
// completions.
func registerCompletions(root *cobra.Command, env *cli.Env) {
	_ = root.RegisterFlagCompletionFunc("output", formats)
	_ = root.RegisterFlagCompletionFunc("netns", netnsNames)
	families := fixed("inet", "inet6")
	tcpUDP := fixed("tcp", "udp")
	args := map[string]completer{
		"helper add":          positional(fixed(builtin.Registry.Names()...), families, tcpUDP, nil),
		"helper get":          positional(helperObjects(env), families, tcpUDP, nil),
		"helper delete":       positional(helperObjects(env), families, tcpUDP, nil),
		"helper enable":       positional(helperObjects(env), families, tcpUDP, nil),
		"helper disable":      positional(helperObjects(env), families, tcpUDP, nil),
		"helper update":       positional(helperObjects(env), families, tcpUDP, nil),
		"helper test":         positional(fixed(builtin.Registry.Names()...), nil),
		"rules":               positional(fixed(builtin.Registry.Names()...)),
		"timeout get":         positional(timeoutNames(env), nil),
		"timeout delete":      positional(timeoutNames(env), nil),
		"timeout update":      positional(timeoutNames(env), nil),
		"timeout add":         positional(nil, families, timeoutStates(2)),
		"timeout default-get": positional(families, timeoutStates(1)),
		"timeout default-set": positional(families, timeoutStates(1)),
		"ct add":              positional(fixed(protocols...), nil),
		"ct get":              positional(fixed(protocols...), nil),
		"ct update":           positional(fixed(protocols...), nil),
		"ct delete":           positional(fixed(protocols...), nil),
		"expect get":          positional(fixed(protocols...), nil),
		"expect delete":       positional(fixed(protocols...), nil),
	}
	flags := map[string]completer{
		"proto":  fixed(protocols...),
		"family": fixed("ipv4", "ipv6"),
		"state":  states,
	}
	var walk func(*cobra.Command)
	walk = func(cmd *cobra.Command) {
		path := strings.TrimPrefix(cmd.CommandPath(), "gonfct ")
		if f, ok := args[path]; ok && cmd.ValidArgsFunction == nil {
			cmd.ValidArgsFunction = f
		}
		for name, f := range flags {
			if cmd.Flags().Lookup(name) != nil {
				_ = cmd.RegisterFlagCompletionFunc(name, f)
			}
		}
		if cmd.Flags().Lookup("helper") != nil {
			switch {
			case path == "run":
				_ = cmd.RegisterFlagCompletionFunc("helper", runHelpers)
			default:
				_ = cmd.RegisterFlagCompletionFunc("helper", conntrackHelpers(env))
			}
		}
		if cmd.Flags().Lookup("policy") != nil {
			_ = cmd.RegisterFlagCompletionFunc("policy", policies)
		}
		for _, c := range cmd.Commands() {
			walk(c)
		}
	}
	walk(root)
}
