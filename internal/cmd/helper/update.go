package helper

import (
	"strings"

	"github.com/gonfct/gonfct/internal/cli"
	"github.com/gonfct/gonfct/pkg/cthelper"
	"github.com/gonfct/gonfct/pkg/cthelper/builtin"
	"github.com/spf13/cobra"
)

// UpdateOptions are the words and flags of `helper update`.
type UpdateOptions struct {
	Env    *cli.Env
	Key    key
	Update cthelper.Update
	Guard  *Guard
}

// NewCmdUpdate makes `helper update`.
func NewCmdUpdate(env *cli.Env, runF func(*UpdateOptions) error) *cobra.Command {
	var (
		queue    uint32
		policies []string
		status   string
		guard    *Guard
	)
	cmd := &cobra.Command{
		Use:   "update NAME FAMILY PROTO",
		Short: "Change a helper's queue, status or policy values in place",
		Example: `  gonfct helper update ftp inet tcp --policy ftp:2:120 --queue 5
  gonfct helper update rpc inet udp --status enabled`,
		Args: cli.ExactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			k, err := parseKey(args)
			if err != nil {
				return err
			}
			var u cthelper.Update
			if cmd.Flags().Changed("queue") {
				u.QueueNum = &queue
			}
			if cmd.Flags().Changed("status") {
				s, err := parseStatus(status)
				if err != nil {
					return err
				}
				u.Status = &s
			}
			var defaults []cthelper.Policy
			if spec, ok := builtin.Registry.Lookup(k.Name); ok {
				defaults = spec.Policies
			}
			for _, s := range policies {
				p, err := parsePolicy(s, defaults)
				if err != nil {
					return cli.Usage(err)
				}
				u.Policies = append(u.Policies, p)
			}
			if len(u.Policies) > cthelper.MaxPolicies {
				return cli.Usagef("%d policies given: a helper has at most %d", len(u.Policies), cthelper.MaxPolicies)
			}
			if u.QueueNum == nil && u.Status == nil && len(u.Policies) == 0 {
				return cli.Usagef("nothing to update: give --queue, --status or --policy")
			}
			opts := &UpdateOptions{Env: env, Key: k, Update: u, Guard: guard}
			if runF != nil {
				return runF(opts)
			}
			return updateRun(opts)
		},
	}
	f := cmd.Flags()
	f.Uint32Var(&queue, "queue", 0, "new NFQUEUE number")
	f.StringArrayVar(&policies, "policy", nil, "new values NAME:EXPECTMAX:TIMEOUT of an existing policy (empty fields keep the defaults)")
	f.StringVar(&status, "status", "", "enabled or disabled")
	guard = newGuard(cmd)
	return cmd
}

func updateRun(o *UpdateOptions) error {
	// Enabling is all a running engine could want of it.
	u := o.Update
	if enableOnly := u.QueueNum == nil && len(u.Policies) == 0 && u.Status != nil && *u.Status == cthelper.Enabled; !enableOnly {
		if err := o.Guard.check(o.Env, o.Key); err != nil {
			return err
		}
	}
	cl, done, err := client(o.Env)
	if err != nil {
		return err
	}
	defer done()
	return adviseNotFound(cl.Update(o.Key.Name, o.Key.Family, o.Key.Proto, o.Update))
}

func parseStatus(s string) (cthelper.Status, error) {
	switch strings.ToLower(s) {
	case "enabled", "enable", "on", "1":
		return cthelper.Enabled, nil
	case "disabled", "disable", "off", "0":
		return cthelper.Disabled, nil
	}
	return 0, cli.Usagef("bad status %q: want enabled or disabled", s)
}

// StatusOptions are the words of `helper enable` and `helper disable`.
type StatusOptions struct {
	Env    *cli.Env
	Key    key
	Status cthelper.Status
	Guard  *Guard // disable only
}

// NewCmdStatus makes `helper enable` (st Enabled) or `helper disable`.
func NewCmdStatus(env *cli.Env, st cthelper.Status, runF func(*StatusOptions) error) *cobra.Command {
	verb, what := "enable", "Start queueing the helper's packets to its queue"
	if st == cthelper.Disabled {
		verb, what = "disable", "Let the helper's packets pass un-helped (nfct disable helper)"
	}
	var guard *Guard
	cmd := &cobra.Command{
		Use:   verb + " NAME FAMILY PROTO",
		Short: what,
		Example: `  gonfct helper ` + verb + ` ftp inet tcp
  gonfct ` + verb + ` helper rpc inet udp        # nfct word order`,
		Args: cli.ExactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			k, err := parseKey(args)
			if err != nil {
				return err
			}
			opts := &StatusOptions{Env: env, Key: k, Status: st, Guard: guard}
			if runF != nil {
				return runF(opts)
			}
			return statusRun(opts)
		},
	}
	if st == cthelper.Disabled {
		guard = newGuard(cmd)
	}
	return cmd
}

func statusRun(o *StatusOptions) error {
	if err := o.Guard.check(o.Env, o.Key); err != nil {
		return err
	}
	cl, done, err := client(o.Env)
	if err != nil {
		return err
	}
	defer done()
	return adviseNotFound(cl.SetStatus(o.Key.Name, o.Key.Family, o.Key.Proto, o.Status))
}
