package timeout

import (
	"fmt"
	"strings"

	"github.com/gonfct/gonfct/internal/cli"
	"github.com/gonfct/gonfct/pkg/ctnl"
	"github.com/gonfct/gonfct/pkg/cttimeout"
	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"
)

// DeleteOptions are the words of `timeout delete`.
type DeleteOptions struct {
	Env  *cli.Env
	Name string
}

// NewCmdDelete makes `timeout delete`.
func NewCmdDelete(env *cli.Env, runF func(*DeleteOptions) error) *cobra.Command {
	return &cobra.Command{
		Use:     "delete NAME",
		Aliases: []string{"del"},
		Short:   "Delete a timeout policy no rule uses (nfct delete timeout)",
		Example: `  gonfct timeout delete web
  gonfct delete timeout web                   # nfct word order`,
		Args: cli.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := cttimeout.CheckName(args[0]); err != nil {
				return asUsage(err)
			}
			opts := &DeleteOptions{Env: env, Name: args[0]}
			if runF != nil {
				return runF(opts)
			}
			return deleteRun(opts)
		},
	}
}

func deleteRun(o *DeleteOptions) error {
	c, err := o.Env.Conn()
	if err != nil {
		return err
	}
	defer c.Close()
	err = cli.AdviseOn(cttimeout.Delete(c, o.Name), ctnl.ErrBusy,
		fmt.Sprintf("remove those first, or change its values in place with `gonfct timeout update %s ...`", o.Name))
	return asUsage(adviseNotFound(err))
}

// FlushOptions are the words of `timeout flush`: none but the globals.
type FlushOptions struct {
	Env *cli.Env
}

// NewCmdFlush makes `timeout flush`.
func NewCmdFlush(env *cli.Env, runF func(*FlushOptions) error) *cobra.Command {
	return &cobra.Command{
		Use:   "flush",
		Short: "Delete every timeout policy of the namespace that no rule uses",
		Example: `  gonfct timeout flush
  gonfct flush timeout                        # nfct word order`,
		Long: `Delete every timeout policy of the namespace that no rule uses.

The kernel skips policies in use without a word (nfct flush timeout exits
0); gonfct names them and exits 1.`,
		Args: cli.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts := &FlushOptions{Env: env}
			if runF != nil {
				return runF(opts)
			}
			return flushRun(opts)
		},
	}
}

func flushRun(o *FlushOptions) error {
	c, err := o.Env.Conn()
	if err != nil {
		return err
	}
	defer c.Close()
	kept, err := cttimeout.Flush(c)
	if err != nil || len(kept) == 0 {
		return err
	}
	return &ctnl.Error{Op: "flush timeout policies", Err: unix.EBUSY,
		Hint: fmt.Sprintf("kept %d in use by rules (-j CT --timeout): %s; remove those rules first", len(kept), strings.Join(kept, ", "))}
}
