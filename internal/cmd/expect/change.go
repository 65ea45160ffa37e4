package expect

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/gonfct/gonfct/internal/cli"
	"github.com/gonfct/gonfct/internal/cmd/ctcli"
	"github.com/gonfct/gonfct/pkg/cthelper"
	"github.com/gonfct/gonfct/pkg/ctnetlink"
	"github.com/gonfct/gonfct/pkg/ctnl"
	ctexpect "github.com/gonfct/gonfct/pkg/expect"
	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"
)

// What to type about the kernel's answers; pkg/expect says what they mean.

func adviseAdd(err error) error {
	err = cli.AdviseOn(err, ctnl.ErrNotFound, "check --master (and --zone) against `gonfct ct list`")
	err = cli.AdviseOn(err, ctnl.ErrNotSupported, "attach one with `gonfct ct add --helper`")
	return cli.AdviseOn(err, unix.EINVAL, "check --class and --expectfn")
}

func adviseLookup(err error) error {
	return cli.AdviseOn(err, ctnl.ErrNotFound, "`gonfct expect list -o json` shows the table, with IDs")
}

// maxExpectClasses is NF_CT_MAX_EXPECT_CLASSES: the kernel keeps per-class
// counters in an array of this size.
const maxExpectClasses = 4

// AddOptions serve `expect add`.
type AddOptions struct {
	env   *cli.Env
	exp   ctexpect.Expectation
	quiet bool
}

func NewCmdAdd(env *cli.Env, runF func(*AddOptions) error) *cobra.Command {
	opts := &AddOptions{env: env}
	var master, tuple, mask, class, helper, flags, zone, natDir, natTuple, fn string
	cmd := &cobra.Command{
		Use:     "add --master TUPLE --tuple TUPLE [flags]",
		Aliases: []string{"create"},
		Short:   "Add an expectation (conntrack -I expect, with class, helper, flags, zone, NAT)",
		Example: `  gonfct expect add --master "tcp 192.0.2.1 192.0.2.2 40000 21" \
      --tuple "tcp 192.0.2.2 192.0.2.1 0 50000"
  gonfct expect add --master "udp 192.0.2.1 192.0.2.2 1000 111" \
      --tuple "tcp 192.0.2.1 192.0.2.2 0 2049" --mask "src=/32 sport=0" --flags permanent
  gonfct expect add --master "tcp 192.0.2.1 192.0.2.2 40000 21" \
      --tuple "tcp 192.0.2.2 192.0.2.1 0 50000" --mask "src=/24"`,
		Long: `Add an expectation to a master conntrack that carries a helper.

  gonfct expect add --master "tcp 10.0.0.1 10.0.0.2 40000 21" \
      --tuple "tcp 10.0.0.2 10.0.0.1 0 50000"

Tuples take "PROTO SRC DST [SPORT DPORT]" or conntrack's key=value words.
A zero source address or port in --tuple means any, as in the kernel's own
helpers: the connection above may come from any port of 10.0.0.2.

--mask says which bits of the expected tuple must match, as masks, not
addresses: "SRC DST [SPORT DPORT]" or keys src=, dst=, sport=, dport=.
An address mask is a prefix length (src=/32: this source only, src=/24:
its /24, src=/0: any) or a mask address (src=255.255.255.255); a port mask
is 65535 (exact) or 0 (any). Keys left out keep the default above. gonfct
warns when an address mask is not a contiguous prefix (src=10.0.0.2 is an
address, not a mask). The kernel always matches the destination exactly.

` + longHelp,
		Args: cli.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			e := &opts.exp
			var err error
			if master == "" || tuple == "" {
				return cli.Usagef("add needs --master and --tuple")
			}
			if e.Master, err = ctcli.ParseTuple("--master", strings.Fields(master)...); err != nil {
				return err
			}
			if e.Tuple, err = ctcli.ParseTuple("--tuple", strings.Fields(tuple)...); err != nil {
				return err
			}
			e.Mask = ctexpect.DefaultMask(e.Tuple)
			if mask != "" {
				if e.Mask, err = ctexpect.ParseMask(mask, e.Tuple); err != nil {
					return cli.Usagef("--mask: %v", err)
				}
				warnMask(env, e.Mask)
			}
			if class != "" {
				n, err := strconv.ParseUint(class, 0, 32)
				if err != nil || n >= maxExpectClasses {
					return cli.Usagef("--class %q: want 0 to %d (and below the helper's class count)", class, maxExpectClasses-1)
				}
				e.Class = uint32(n)
			}
			if helper != "" {
				if err := cthelper.ValidateName("helper", helper); err != nil {
					return cli.Usagef("--helper: %v", err)
				}
			}
			e.Helper = helper
			if e.Flags, err = ctexpect.ParseFlags(flags); err != nil {
				return cli.Usagef("--flags: %v", err)
			}
			if e.Flags&ctexpect.Userspace != 0 {
				return cli.Usagef("--flags: the kernel sets USERSPACE itself; want permanent, inactive")
			}
			if zone != "" {
				if e.Zone, err = cli.ParseZone(zone); err != nil {
					return err
				}
				e.HasZone = true
			}
			if (natDir == "") != (natTuple == "") {
				return cli.Usagef("--nat-dir and --nat-tuple go together")
			}
			if natDir != "" {
				e.NAT.Set = true
				if e.NAT.Dir, err = ctexpect.ParseNATDir(natDir); err != nil {
					return cli.Usagef("--nat-dir: %v", err)
				}
				if e.NAT.Tuple, err = ctexpect.ParseNATTuple(natTuple, e.Tuple); err != nil {
					return cli.Usagef("--nat-tuple: %v", err)
				}
			}
			e.Fn = fn
			if err := e.Validate(); err != nil {
				return cli.Usage(err)
			}
			if runF != nil {
				return runF(opts)
			}
			return addRun(opts)
		},
	}
	f := cmd.Flags()
	f.StringVar(&master, "master", "", `master conntrack's original tuple, "PROTO SRC DST SPORT DPORT"`)
	f.StringVar(&tuple, "tuple", "", `expected connection, "PROTO SRC DST SPORT DPORT"`)
	f.StringVar(&mask, "mask", "", `which bits of --tuple must match: "src=/32 sport=0" or "SRC DST [SPORT DPORT]" masks (see above)`)
	f.StringVar(&class, "class", "", "expectation class: the index of the helper's expectation policy (0-3)")
	f.StringVar(&helper, "helper", "", "helper for the expected connection (CTA_EXPECT_HELP_NAME; kernels before 6.18 also check --class against it, newer ones against the master's helper)")
	f.StringVar(&flags, "flags", "", "permanent,inactive")
	f.StringVar(&zone, "zone", "", "conntrack zone of the master")
	f.StringVar(&natDir, "nat-dir", "", "NAT the expected connection: original or reply (with --nat-tuple)")
	f.StringVar(&natTuple, "nat-tuple", "", `NAT target: "ADDR [PORT]" (with --nat-dir)`)
	f.StringVar(&fn, "expectfn", "", "function run when the expected connection arrives: nat-follow-master")
	ctcli.QuietFlag(cmd, &opts.quiet)
	return cmd
}

// warnMask says on stderr when a source mask is not a contiguous prefix:
// most often an address typed where a mask belongs, which lets in sources
// the user did not mean. The kernel ignores the destination mask.
func warnMask(env *cli.Env, m ctnetlink.Tuple) {
	if !ctexpect.Contiguous(m.Src) {
		fmt.Fprintf(env.Err, "gonfct: warning: --mask src=%s is not a contiguous prefix: it is a mask, not an address (src=/%d matches one source, src=/24 its /24)\n",
			m.Src, m.Src.BitLen())
	}
}

func addRun(opts *AddOptions) error {
	return ctcli.Change(opts.env, opts.quiet, "1 expectations have been created.", func(c *ctnl.Conn) error {
		return adviseAdd(ctexpect.NewClient(c).Create(&opts.exp))
	})
}

// DeleteOptions serve `expect delete`.
type DeleteOptions struct {
	env *cli.Env
	// byKey: delete the expectation key names; else what filter selects.
	byKey  bool
	key    ctnetlink.Key
	filter ctexpect.Filter
	quiet  bool
}

// NewCmdDelete is `expect delete`.
func NewCmdDelete(env *cli.Env, runF func(*DeleteOptions) error) *cobra.Command {
	opts := &DeleteOptions{env: env}
	var ff filterFlags
	var id string
	cmd := &cobra.Command{
		Use:     "delete [PROTO SRC DST [SPORT DPORT]] [--id ID | --helper NAME | --master TUPLE | filters]",
		Aliases: []string{"del"},
		Short:   "Delete expectations by expected tuple, ID, helper, master or filter (conntrack -D expect)",
		Example: `  gonfct expect delete tcp 192.0.2.2 192.0.2.1 0 50000
  gonfct expect delete --id 3735928559
  gonfct expect delete --helper ftp --dst 192.0.2.1`,
		Long: `Delete expectations:

  gonfct expect delete tcp 10.0.0.2 10.0.0.1 0 50000    the one with this expected tuple
  gonfct expect delete --id 3863391790                   the one with this ID
  gonfct expect delete --helper ftp                      all of masters using helper ftp (one kernel request)
  gonfct expect delete --master "tcp 10.0.0.1 10.0.0.2 40000 21"   all of one master
  gonfct expect delete -p udp --dport 5004               all that the filters select

Filters other than --helper alone are matched over a dump, then each
expectation is deleted by tuple and ID on a second socket (one that expires
meanwhile is skipped). The count goes to stderr.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			var err error
			if len(args) > 0 {
				zone := ff.Zone
				ff.Zone = ""
				if ff.any() {
					return cli.Usagef("expect delete takes a tuple or filters, not both (with a tuple, only --zone and --id)")
				}
				opts.byKey = true
				if opts.key, err = ctcli.ParseKey(args, zone); err != nil {
					return err
				}
				if opts.key.ID, err = parseID(id); err != nil {
					return err
				}
			} else {
				if opts.filter, err = ff.build(); err != nil {
					return err
				}
				if opts.filter.ID, err = parseID(id); err != nil {
					return err
				}
				if opts.filter.IsZero() {
					return cli.Usagef("delete needs a tuple, --id, --helper, --master or a filter; `gonfct expect flush` empties the table")
				}
			}
			if runF != nil {
				return runF(opts)
			}
			return deleteRun(opts)
		},
	}
	ff.add(cmd.Flags())
	cmd.Flags().StringVar(&id, "id", "", "the expectation with this ID (see list -o json)")
	ctcli.QuietFlag(cmd, &opts.quiet)
	return cmd
}

func deleteRun(opts *DeleteOptions) error {
	if !opts.byKey {
		return flushRun(&FlushOptions{env: opts.env, filter: opts.filter, quiet: opts.quiet})
	}
	return ctcli.Change(opts.env, opts.quiet, "1 expectations have been deleted.", func(c *ctnl.Conn) error {
		return adviseLookup(ctexpect.NewClient(c).Delete(opts.key))
	})
}

// FlushOptions serve `expect flush`.
type FlushOptions struct {
	env    *cli.Env
	filter ctexpect.Filter
	quiet  bool
}

// NewCmdFlush is `expect flush`.
func NewCmdFlush(env *cli.Env, runF func(*FlushOptions) error) *cobra.Command {
	opts := &FlushOptions{env: env}
	var ff filterFlags
	cmd := &cobra.Command{
		Use:   "flush [--helper NAME] [filters]",
		Short: "Delete all expectations, or all that the filters select (conntrack -F expect)",
		Example: `  gonfct expect flush
  gonfct expect flush --helper rpc
  gonfct --netns fw1 expect flush -f ipv6`,
		Args: cli.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var err error
			if opts.filter, err = ff.build(); err != nil {
				return err
			}
			if runF != nil {
				return runF(opts)
			}
			return flushRun(opts)
		},
	}
	ff.add(cmd.Flags())
	ctcli.QuietFlag(cmd, &opts.quiet)
	return cmd
}

func flushRun(opts *FlushOptions) error {
	return ctcli.Flush(opts.env, opts.quiet, opts.filter.IsZero(), "expectation table has been emptied.", "expectations",
		func(c *ctnl.Conn) error { return ctexpect.NewClient(c).Flush() },
		func(c, c2 *ctnl.Conn) (int, error) {
			n, err := ctexpect.NewClient(c).DeleteMatching(opts.filter, ctexpect.NewClient(c2))
			return n, adviseLookup(err)
		})
}
