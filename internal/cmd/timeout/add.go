package timeout

import (
	"fmt"

	"github.com/gonfct/gonfct/internal/cli"
	"github.com/gonfct/gonfct/pkg/ctnl"
	"github.com/gonfct/gonfct/pkg/cttimeout"
	"github.com/spf13/cobra"
)

// AddOptions are the words of `timeout add`.
type AddOptions struct {
	Env    *cli.Env
	Policy cttimeout.Policy
}

const addUse = "add NAME inet|inet6 PROTO STATE SECS [STATE SECS ...]"

// NewCmdAdd makes `timeout add`.
func NewCmdAdd(env *cli.Env, runF func(*AddOptions) error) *cobra.Command {
	return &cobra.Command{
		Use:   addUse,
		Short: "Create a timeout policy (nfct add timeout); states not given take the current defaults",
		Example: `  gonfct timeout add web inet tcp established 3600 close_wait 30
  gonfct timeout add dns inet6 udp unreplied 5 replied 10
  gonfct add timeout web inet tcp ESTABLISHED 3600      # nfct word order`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) < 5 {
				return cli.Usagef("missing parameters: usage: gonfct timeout %s", addUse)
			}
			if err := cttimeout.CheckName(args[0]); err != nil {
				return asUsage(err)
			}
			f, p, err := parseKey(args[1], args[2])
			if err != nil {
				return err
			}
			t, err := parseTimeouts(p, args[3:])
			if err != nil {
				return err
			}
			opts := &AddOptions{Env: env, Policy: cttimeout.Policy{Name: args[0], Family: f, Proto: p, Timeouts: t}}
			if runF != nil {
				return runF(opts)
			}
			return addRun(opts)
		},
	}
}

func addRun(o *AddOptions) error {
	c, err := o.Env.Conn()
	if err != nil {
		return err
	}
	defer c.Close()
	err = cli.AdviseOn(cttimeout.Add(c, o.Policy), ctnl.ErrExists,
		fmt.Sprintf("change its values with `gonfct timeout update %s STATE SECS ...`, or delete it first", o.Policy.Name))
	return asUsage(err)
}

// UpdateOptions are the words of `timeout update`.
type UpdateOptions struct {
	Env  *cli.Env
	Name string
	// Family and Proto are 0 when not given: the policy's own.
	Family, Proto uint8
	Settings      []cttimeout.Setting
}

const updateUse = "update NAME [inet|inet6 PROTO] STATE SECS [STATE SECS ...]"

// NewCmdUpdate makes `timeout update`.
func NewCmdUpdate(env *cli.Env, runF func(*UpdateOptions) error) *cobra.Command {
	return &cobra.Command{
		Use:   updateUse,
		Short: "Change some timeouts of an existing policy in place, keeping the others",
		Long: `Change some timeouts of an existing policy in place, keeping the others.

The policy keeps its name, so rules that use it (CT --timeout) and their
connections see the new values at once. Its family and protocol cannot
change; given, they must be the policy's (as in the add command line).`,
		Example: `  gonfct timeout update web established 7200
  gonfct timeout update web inet tcp established 7200 close 5`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) < 3 {
				return cli.Usagef("missing parameters: usage: gonfct timeout %s", updateUse)
			}
			if err := cttimeout.CheckName(args[0]); err != nil {
				return asUsage(err)
			}
			opts := &UpdateOptions{Env: env, Name: args[0]}
			words := args[1:]
			if _, err := ctnl.ParseFamily(args[1]); err == nil {
				if len(args) < 5 {
					return cli.Usagef("missing parameters: usage: gonfct timeout %s", updateUse)
				}
				f, p, err := parseKey(args[1], args[2])
				if err != nil {
					return err
				}
				opts.Family, opts.Proto, words = f, p, args[3:]
			}
			s, err := cttimeout.ParseSettings(words)
			if err != nil {
				return asUsage(err)
			}
			if opts.Proto != 0 {
				// Check the states now when the protocol is known; else
				// after reading the policy, still before writing.
				if _, err := cttimeout.Resolve(opts.Proto, s); err != nil {
					return asUsage(err)
				}
			}
			opts.Settings = s
			if runF != nil {
				return runF(opts)
			}
			return updateRun(opts)
		},
	}
}

func updateRun(o *UpdateOptions) error {
	c, err := o.Env.Conn()
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = cttimeout.Update(c, o.Name, o.Family, o.Proto, o.Settings)
	return asUsage(adviseNotFound(err))
}
