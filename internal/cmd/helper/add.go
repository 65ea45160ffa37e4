package helper

import (
	"strings"

	"github.com/gonfct/gonfct/internal/cli"
	"github.com/gonfct/gonfct/pkg/cthelper"
	"github.com/gonfct/gonfct/pkg/cthelper/builtin"
	"github.com/gonfct/gonfct/pkg/ctnl"
	"github.com/spf13/cobra"
)

// AddOptions are the words and flags of `helper add`.
type AddOptions struct {
	Env     *cli.Env
	Helper  cthelper.Helper
	Replace bool
	Guard   *Guard // with Replace
}

// NewCmdAdd makes `helper add`.
func NewCmdAdd(env *cli.Env, runF func(*AddOptions) error) *cobra.Command {
	var (
		queue    uint32
		policies []string
		privLen  int
		replace  bool
		enable   bool
		guard    *Guard
	)
	cmd := &cobra.Command{
		Use:   "add NAME FAMILY PROTO",
		Short: "Create a helper object (nfct add helper), disabled unless --enable",
		Example: `  gonfct helper add rpc inet tcp
  gonfct helper add rpc inet udp --queue 2 --policy rpc:1:300
  gonfct helper add steam inet udp --queue 7 --policy steam:8:30 --priv-len 0
  gonfct add helper ftp inet6 tcp --enable      # nfct word order`,
		Args: cli.ExactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			k, err := parseKey(args)
			if err != nil {
				return err
			}
			h := cthelper.Helper{Name: k.Name, Family: k.Family, Proto: k.Proto, QueueNum: queue}
			spec, known := builtin.Registry.Lookup(k.Name)
			var defaults []cthelper.Policy
			if known {
				if !spec.Supports(k.Family, k.Proto) {
					return cli.Usagef("built-in helper %q does not exist for %s %s (see `gonfct helper --help`)", k.Name, ctnl.FamilyName(k.Family), ctnl.ProtoName(k.Proto))
				}
				defaults = spec.Policies
				h.PrivLen = spec.PrivLen
				h.Policies = append([]cthelper.Policy(nil), spec.Policies...)
			}
			if len(policies) > 0 {
				// Given policies replace the defaults as a set; each keeps
				// the default values it does not name.
				h.Policies = nil
				for _, s := range policies {
					p, err := parsePolicy(s, defaults)
					if err != nil {
						return cli.Usage(err)
					}
					h.Policies = append(h.Policies, p)
				}
			}
			if !known && len(policies) == 0 {
				return cli.Usagef("no built-in defaults for helper %q: give its policy with --policy NAME:EXPECTMAX:TIMEOUT (built in: %s)",
					k.Name, strings.Join(builtin.Registry.Names(), ", "))
			}
			if cmd.Flags().Changed("priv-len") {
				if privLen < 0 || privLen > cthelper.MaxPrivLen {
					return cli.Usagef("--priv-len %d: private data is 0 to %d bytes", privLen, cthelper.MaxPrivLen)
				}
				h.PrivLen = uint32(privLen)
			}
			if enable {
				h.Status = cthelper.Enabled
			}
			if err := h.Validate(); err != nil {
				return cli.Usage(err)
			}
			opts := &AddOptions{Env: env, Helper: h, Replace: replace, Guard: guard}
			if runF != nil {
				return runF(opts)
			}
			return addRun(opts)
		},
	}
	f := cmd.Flags()
	f.Uint32Var(&queue, "queue", 0, "NFQUEUE number the kernel queues this helper's packets to")
	f.StringArrayVar(&policies, "policy", nil, "expectation policy NAME:EXPECTMAX:TIMEOUT (repeat for up to 4 classes; empty fields keep the defaults)")
	f.IntVar(&privLen, "priv-len", 0, "bytes of per-conntrack private data (0 to 32; default: the built-in helper's)")
	f.BoolVar(&replace, "replace", false, "replace an existing helper of the same name, family and protocol")
	f.BoolVar(&enable, "enable", false, "enable the helper at once (default: disabled, as nfct leaves it)")
	guard = newGuard(cmd)
	return cmd
}

func addRun(o *AddOptions) error {
	if o.Replace {
		if err := o.Guard.check(o.Env, key{Name: o.Helper.Name, Family: o.Helper.Family, Proto: o.Helper.Proto}); err != nil {
			return err
		}
	}
	cl, done, err := client(o.Env)
	if err != nil {
		return err
	}
	defer done()
	return cli.AdviseOn(cl.Add(&o.Helper, o.Replace), ctnl.ErrExists, "change it with `gonfct helper update`, or give --replace")
}
