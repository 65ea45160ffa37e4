package helper

import (
	"fmt"
	"strings"

	"github.com/gonfct/gonfct/internal/cli"
	"github.com/gonfct/gonfct/pkg/cthelper"
	"github.com/gonfct/gonfct/pkg/ctnl"
	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"
)

// DeleteOptions are the words of `helper delete`.
type DeleteOptions struct {
	Env   *cli.Env
	Key   key
	Guard *Guard
}

// NewCmdDelete makes `helper delete`.
func NewCmdDelete(env *cli.Env, runF func(*DeleteOptions) error) *cobra.Command {
	var guard *Guard
	cmd := &cobra.Command{
		Use:     "delete NAME [FAMILY [PROTO]]",
		Aliases: []string{"del"},
		Short:   "Delete the helpers of that name (of one family and protocol if given)",
		Example: `  gonfct helper delete ftp                    # both families
  gonfct helper delete rpc inet udp
  gonfct delete helper rpc                    # nfct word order`,
		Args: cli.RangeArgs(1, 3),
		RunE: func(cmd *cobra.Command, args []string) error {
			k, err := parseKey(args)
			if err != nil {
				return err
			}
			opts := &DeleteOptions{Env: env, Key: k, Guard: guard}
			if runF != nil {
				return runF(opts)
			}
			return deleteRun(opts)
		},
	}
	guard = newGuard(cmd)
	return cmd
}

func deleteRun(o *DeleteOptions) error {
	if err := o.Guard.check(o.Env, o.Key); err != nil {
		return err
	}
	cl, done, err := client(o.Env)
	if err != nil {
		return err
	}
	defer done()
	return adviseNotFound(cl.Delete(o.Key.Name, o.Key.Family, o.Key.Proto))
}

// FlushOptions are the words of `helper flush`: none but the globals.
type FlushOptions struct {
	Env   *cli.Env
	Guard *Guard
}

// NewCmdFlush makes `helper flush`.
func NewCmdFlush(env *cli.Env, runF func(*FlushOptions) error) *cobra.Command {
	var guard *Guard
	cmd := &cobra.Command{
		Use:   "flush",
		Short: "Delete every user-space helper not in use by a ruleset",
		Example: `  gonfct helper flush
  gonfct flush helper                         # nfct word order`,
		Args: cli.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts := &FlushOptions{Env: env, Guard: guard}
			if runF != nil {
				return runF(opts)
			}
			return flushRun(opts)
		},
	}
	guard = newGuard(cmd)
	return cmd
}

// flushRun deletes what the kernel lets go and names what it kept: the
// kernel itself says nothing about helpers in use.
func flushRun(o *FlushOptions) error {
	if err := o.Guard.check(o.Env, key{}); err != nil {
		return err
	}
	cl, done, err := client(o.Env)
	if err != nil {
		return err
	}
	defer done()
	kept, err := cl.Flush()
	if err != nil || len(kept) == 0 {
		return err
	}
	names := make([]string, len(kept))
	for i, h := range kept {
		names[i] = fmt.Sprintf("%s %s %s", h.Name, ctnl.FamilyName(h.Family), ctnl.ProtoName(h.Proto))
	}
	return &ctnl.Error{Op: "flush helpers", Err: unix.EBUSY,
		Hint: fmt.Sprintf("kept %d in use: %s; %s", len(kept), strings.Join(names, ", "), cthelper.HintInUse)}
}
