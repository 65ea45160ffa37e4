package timeout

import (
	"github.com/gonfct/gonfct/internal/cli"
	"github.com/gonfct/gonfct/internal/output"
	"github.com/gonfct/gonfct/pkg/cttimeout"
	"github.com/spf13/cobra"
)

// GetOptions are the words of `timeout get` and `timeout list`: list is
// get without a name.
type GetOptions struct {
	Env  *cli.Env
	Name string // empty for list
}

// NewCmdGet makes `timeout get`.
func NewCmdGet(env *cli.Env, runF func(*GetOptions) error) *cobra.Command {
	return &cobra.Command{
		Use:   "get NAME",
		Short: "Show one timeout policy (-o text|table|json|nfct)",
		Example: `  gonfct timeout get web
  gonfct timeout get web -o json
  gonfct get timeout web                      # nfct word order`,
		Args: cli.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := cttimeout.CheckName(args[0]); err != nil {
				return asUsage(err)
			}
			if err := checkFormat(env); err != nil {
				return err
			}
			opts := &GetOptions{Env: env, Name: args[0]}
			if runF != nil {
				return runF(opts)
			}
			return getRun(opts)
		},
	}
}

// NewCmdList makes `timeout list`.
func NewCmdList(env *cli.Env, runF func(*GetOptions) error) *cobra.Command {
	return &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "Show every timeout policy of the namespace (-o text|table|json|nfct)",
		Example: `  gonfct timeout list
  gonfct timeout list -o table
  gonfct --netns fw1 timeout list -o nfct`,
		Args: cli.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkFormat(env); err != nil {
				return err
			}
			opts := &GetOptions{Env: env}
			if runF != nil {
				return runF(opts)
			}
			return getRun(opts)
		},
	}
}

func getRun(o *GetOptions) error {
	mode := output.List
	if o.Name != "" {
		mode = output.Single
	}
	w, err := o.Env.Writer(mode, columns, output.Nfct)
	if err != nil {
		return err
	}
	c, err := o.Env.Conn()
	if err != nil {
		return err
	}
	defer c.Close()
	if o.Name != "" {
		p, err := cttimeout.Get(c, o.Name)
		if err != nil {
			return asUsage(adviseNotFound(err))
		}
		if err := w.Write(record{p: p}); err != nil {
			return err
		}
		return w.Close()
	}
	if err := cttimeout.List(c, func(p cttimeout.Policy) error { return w.Write(record{p: p}) }); err != nil {
		return err
	}
	return w.Close()
}
