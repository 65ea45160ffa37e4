package cli

import (
	"strconv"

	"github.com/spf13/cobra"
)

// GroupRunE serves a command that only groups others: alone it shows its
// help; with a word it does not know, it is a usage error.
func GroupRunE(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return Usagef("unknown command %q for %q", args[0], cmd.CommandPath())
	}
	return cmd.Help()
}

// NewGroup makes a command group.
func NewGroup(use, short string, cmds ...*cobra.Command) *cobra.Command {
	g := &cobra.Command{Use: use, Short: short, RunE: GroupRunE, Args: cobra.ArbitraryArgs}
	g.AddCommand(cmds...)
	return g
}

// ParseZone reads --zone: a conntrack zone number.
func ParseZone(s string) (uint16, error) {
	n, err := strconv.ParseUint(s, 0, 16)
	if err != nil {
		return 0, Usagef("--zone %q: want a zone number from 0 to 65535", s)
	}
	return uint16(n), nil
}
