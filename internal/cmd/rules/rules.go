// Package rules is `gonfct rules`: the nft or iptables rules that assign
// helpers to connections, printed, never loaded.
package rules

import (
	"io"

	"github.com/gonfct/gonfct/internal/cli"
	nfrules "github.com/gonfct/gonfct/internal/rules"
	"github.com/gonfct/gonfct/pkg/cthelper/builtin"
	"github.com/gonfct/gonfct/pkg/ctnl"
	"github.com/spf13/cobra"
)

// RulesOptions are the words and flags of `gonfct rules`.
type RulesOptions struct {
	// Out is where the ruleset goes: stdout, once -o is known to be text.
	Out      io.Writer
	IPTables bool
	Rules    nfrules.Options
}

// NewCmdRules makes `gonfct rules`.
func NewCmdRules(env *cli.Env, runF func(*RulesOptions) error) *cobra.Command {
	var (
		useNFT, useIPT bool
		family         string
		port           []uint
		opts           = &RulesOptions{}
	)
	cmd := &cobra.Command{
		Use:   "rules HELPER[/PROTO][:PORT[,PORT...]]...",
		Short: "Print the nft or iptables rules that assign helpers to connections",
		Long: `Print the firewall rules that assign user-space helpers to connections:
an nft script with "ct helper" objects and "ct helper set" rules (the
default, for "nft -f"), or iptables/ip6tables raw-table "-j CT --helper"
command lines (--iptables, for a shell).

A built-in helper's protocols and well-known port are the defaults; give
others as NAME:PORT or NAME/PROTO:PORT. A helper that is not built in needs
both. The rules assign in prerouting (connections through or to this host)
and output (connections from it). They load only once the helpers exist in
the kernel ("gonfct run" adds them, or "gonfct helper add").

--nat: with nft, assign the helper before destination NAT (priority -150
instead of 0), so that NATed TCP connections get sequence adjustment and a
helper may rewrite addresses in the payload. The iptables CT target already
acts before NAT; its lines do not change.

Nothing touches the kernel: pipe the output to "nft -f -" or "sh".`,
		Example: `  gonfct rules ftp | nft -f -
  gonfct rules ftp:21,2121 tftp rpc/udp --nat > /etc/nftables.d/helpers.nft
  gonfct rules ftp --iptables | sh
  gonfct rules ftp --iptables --chain HELPERS --family inet   # re-runnable, IPv4 only
  gonfct rules steam/udp:27015 --table helpers                # a helper that is not built in`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return cli.Usagef("gonfct rules needs at least one HELPER: usage: %s", cmd.UseLine())
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if useNFT && useIPT {
				return cli.Usagef("--nft and --iptables exclude each other")
			}
			out, err := env.Document("gonfct rules prints a ruleset")
			if err != nil {
				return err
			}
			opts.Out = out
			opts.IPTables = useIPT
			if family != "" {
				f, err := ctnl.ParseFamily(family)
				if err != nil {
					return cli.Usage(err)
				}
				opts.Rules.Family = f
			}
			if len(port) > 0 && len(args) != 1 {
				return cli.Usagef("--port applies to one helper; with several, write NAME:PORT")
			}
			if opts.IPTables && cmd.Flags().Changed("table") {
				return cli.Usagef("--table names the nft table; with --iptables use --chain")
			}
			if !opts.IPTables && cmd.Flags().Changed("chain") {
				return cli.Usagef("--chain names an iptables chain; with nft use --table")
			}
			for _, a := range args {
				as, err := nfrules.Parse(builtin.Registry, a)
				if err != nil {
					return cli.Usage(err)
				}
				for i := range as {
					if len(port) > 0 {
						as[i].Ports = nil
						for _, p := range port {
							if p == 0 || p > 65535 {
								return cli.Usagef("bad --port %d: want 1 to 65535", p)
							}
							as[i].Ports = append(as[i].Ports, uint16(p))
						}
					}
				}
				opts.Rules.Assigns = append(opts.Rules.Assigns, as...)
			}
			if err := opts.Rules.Validate(); err != nil {
				return cli.Usage(err)
			}
			if runF != nil {
				return runF(opts)
			}
			return rulesRun(opts)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&useNFT, "nft", false, "print an nft script (the default)")
	f.BoolVar(&useIPT, "iptables", false, "print iptables and ip6tables command lines")
	f.BoolVar(&opts.Rules.NAT, "nat", false, "assign helpers before NAT (nft: priority -150)")
	f.StringVar(&family, "family", "", "only inet (IPv4) or inet6 (IPv6); default both")
	f.UintSliceVar(&port, "port", nil, "the helper's port(s), instead of its well-known one")
	f.StringVar(&opts.Rules.Table, "table", nfrules.DefaultTable, "nft table to hold the rules (replaced as a whole on load)")
	f.StringVar(&opts.Rules.Chain, "chain", "", "iptables: a raw-table chain to hold the rules, jumped to from PREROUTING and OUTPUT (re-runnable)")
	return cmd
}

func rulesRun(opts *RulesOptions) error {
	if opts.IPTables {
		return nfrules.IPTables(opts.Out, opts.Rules)
	}
	return nfrules.NFT(opts.Out, opts.Rules)
}
