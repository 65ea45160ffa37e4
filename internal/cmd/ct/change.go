package ct

import (
	"encoding/hex"
	"strings"

	"github.com/gonfct/gonfct/internal/cli"
	"github.com/gonfct/gonfct/internal/cmd/ctcli"
	"github.com/gonfct/gonfct/pkg/ctflow"
	"github.com/gonfct/gonfct/pkg/ctnetlink"
	"github.com/gonfct/gonfct/pkg/ctnl"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/sys/unix"
)

// What to type about the kernel's answers; pkg/ctflow says what they mean.

func adviseLookup(err error) error {
	return cli.AdviseOn(err, ctnl.ErrNotFound, "see `gonfct ct list`; give --zone for a conntrack outside zone 0")
}

func adviseAdd(f *ctflow.Flow, err error) error {
	err = cli.AdviseOn(err, ctnl.ErrExists, "change it with `gonfct ct update`, or delete it first")
	if f.Has(ctflow.HasHelper) {
		err = cli.AdviseOn(err, ctnl.ErrNotSupported,
			"use a kernel helper (ftp, tftp, sip, irc, sane, amanda, pptp, h323 ...) or add a user-space one with `gonfct helper add`")
	}
	return err
}

func adviseUpdate(err error) error {
	err = cli.AdviseOn(err, ctnl.ErrNotFound, "add it with `gonfct ct add`")
	return cli.AdviseOn(err, ctnl.ErrNotSupported, "delete it and add it again with --helper")
}

// ---- add and update

// parseHex reads private data: hex digits, optionally separated by ':' or blanks.
func parseHex(flag, s string) ([]byte, error) {
	clean := strings.NewReplacer(":", "", " ", "", "0x", "").Replace(s)
	b, err := hex.DecodeString(clean)
	if err != nil {
		return nil, cli.Usagef("--%s %q: want hex bytes such as 0a1b2c or 0a:1b:2c", flag, s)
	}
	if len(b) > ctflow.HelperInfoMax {
		return nil, cli.Usagef("--%s: %d bytes, but the kernel keeps at most %d bytes of helper private data", flag, len(b), ctflow.HelperInfoMax)
	}
	return b, nil
}

// flowSettings are the flags add and update share.
type flowSettings struct {
	timeout, mark, zone, status, state, helper, helperInfo string
	labels, labelAdd, labelDel                             []string
}

// addLabels registers the label settings: add takes --label (and
// conntrack's --label-add); update --label-set, --label-add, --label-del,
// as its -l/--label is conntrack's label filter.
func (s *flowSettings) addLabels(fs *pflag.FlagSet, update bool) {
	names := "numbers 0-127 or names from " + ctflow.ConnlabelConf + " (repeat or comma-separate)"
	if !update {
		fs.StringSliceVar(&s.labels, "label", nil, "label bits: "+names)
		fs.StringSliceVar(&s.labelAdd, "label-add", nil, "the same as --label (conntrack's word)")
		return
	}
	fs.StringSliceVar(&s.labels, "label-set", nil, "set exactly these label bits: "+names)
	fs.StringSliceVar(&s.labelAdd, "label-add", nil, "set these label bits, keep the others")
	fs.StringSliceVar(&s.labelDel, "label-del", nil, `clear these label bits ("all": every one)`)
}

func (s *flowSettings) add(fs *pflag.FlagSet, helperUsage string) {
	fs.StringVarP(&s.timeout, "timeout", "t", "", "time until the conntrack expires: seconds, or 300s, 5m, 1h")
	fs.StringVarP(&s.mark, "mark", "m", "", "mark (update: MARK/MASK changes only the bits in MASK)")
	fs.StringVar(&s.status, "status", "", "status bits to set: seen-reply,assured,fixed-timeout")
	fs.StringVar(&s.state, "state", "", "protocol state: ESTABLISHED, SYN_SENT, ... (TCP)")
	fs.StringVar(&s.zone, "zone", "", "the conntrack's zone (both directions)")
	fs.StringVar(&s.helper, "helper", "", helperUsage)
	fs.StringVar(&s.helperInfo, "helper-info", "", "the helper's private data, hex (user-space helpers keep up to 32 bytes)")
}

// apply checks the settings and puts them in f; markMask is for update.
func (s *flowSettings) apply(f *ctflow.Flow, update bool) (markMask uint32, err error) {
	if s.timeout != "" {
		// The kernel keeps a conntrack's timeout in signed 32-bit jiffies.
		t, err := cli.ParseSeconds("--timeout", s.timeout, 1, 0x7fffffff/1000)
		if err != nil {
			return 0, err
		}
		f.Timeout, f.Set = t, f.Set|ctflow.HasTimeout
	}
	if s.mark != "" {
		m, mask, err := parseMark(s.mark)
		if err != nil {
			return 0, err
		}
		if !update && mask != 0xffffffff {
			return 0, cli.Usagef("--mark %q: a new conntrack takes a plain MARK (a mask only makes sense for update)", s.mark)
		}
		f.Mark, f.Set = m&mask, f.Set|ctflow.HasMark
		if mask != 0xffffffff {
			markMask = mask
		}
	}
	if s.status != "" {
		st, err := ctflow.ParseStatus(s.status)
		if err != nil {
			return 0, cli.Usagef("--status: %v", err)
		}
		if bad := st &^ ctflow.Settable; bad != 0 {
			return 0, cli.Usagef("--status %s: the kernel lets user space set only seen-reply, assured and fixed-timeout", strings.ToLower(bad.String()))
		}
		f.Status, f.Set = st, f.Set|ctflow.HasStatus
	}
	if s.state != "" {
		st, err := ctflow.ParseState(f.Proto(), s.state)
		if err != nil {
			return 0, cli.Usagef("--state: %v", err)
		}
		if f.Proto() == unix.IPPROTO_SCTP {
			return 0, cli.Usagef("--state: an SCTP state needs its verification tags; restore SCTP conntracks from a save file instead")
		}
		f.State, f.Set = st, f.Set|ctflow.HasState
	}
	if s.helper != "" {
		if err := f.SetHelper(s.helper); err != nil {
			return 0, cli.Usagef("--helper: %v", err)
		}
	}
	if s.helperInfo != "" {
		b, err := parseHex("helper-info", s.helperInfo)
		if err != nil {
			return 0, err
		}
		_ = f.SetHelperInfo(b)
	}
	if err := s.applyLabels(f, update); err != nil {
		return 0, err
	}
	if s.zone != "" {
		if f.Zone, err = cli.ParseZone(s.zone); err != nil {
			return 0, err
		}
		f.Set |= ctflow.HasZone
	}
	return markMask, nil
}

func (s *flowSettings) applyLabels(f *ctflow.Flow, update bool) error {
	set, add := "--label", "--label-add"
	if update {
		set = "--label-set"
	}
	if len(s.labels) > 0 && (len(s.labelAdd) > 0 || len(s.labelDel) > 0) && update {
		return cli.Usagef("%s sets every label bit: give it alone, or --label-add/--label-del", set)
	}
	var err error
	if len(s.labels) > 0 || !update && len(s.labelAdd) > 0 {
		if f.Labels, err = ctflow.ParseLabels(append(s.labels, s.labelAdd...), ctflow.ConnlabelConf); err != nil {
			return cli.Usagef("%s: %v", set, err)
		}
		f.Set |= ctflow.HasLabels
		return nil
	}
	if len(s.labelAdd) > 0 {
		if f.Labels, err = ctflow.ParseLabels(s.labelAdd, ctflow.ConnlabelConf); err != nil {
			return cli.Usagef("%s: %v", add, err)
		}
		f.LabelsMask = f.Labels
		f.Set |= ctflow.HasLabels
	}
	if len(s.labelDel) > 0 {
		var del [ctflow.LabelsLen]byte
		if len(s.labelDel) == 1 && s.labelDel[0] == "all" {
			for i := range del {
				del[i] = 0xff
			}
		} else if del, err = ctflow.ParseLabels(s.labelDel, ctflow.ConnlabelConf); err != nil {
			return cli.Usagef("--label-del: %v", err)
		}
		for i := range del {
			if f.Labels[i]&del[i] != 0 {
				return cli.Usagef("--label-add and --label-del name the same bit")
			}
			f.LabelsMask[i] |= del[i]
		}
		f.Set |= ctflow.HasLabels
	}
	return nil
}

// AddOptions serve `ct add`.
type AddOptions struct {
	env   *cli.Env
	flow  ctflow.Flow
	quiet bool
}

// NewCmdAdd is `ct add`.
func NewCmdAdd(env *cli.Env, runF func(*AddOptions) error) *cobra.Command {
	opts := &AddOptions{env: env}
	var (
		s     flowSettings
		reply string
	)
	cmd := &cobra.Command{
		Use:   "add PROTO SRC DST [SPORT DPORT] --timeout S [--helper NAME [--helper-info HEX]] [flags]",
		Short: "Add a conntrack, optionally with a helper and its private data",
		Long: `Add a conntrack. The reply tuple defaults to the inverse of the original
(no NAT); give --reply for another.

--helper attaches a conntrack helper, which conntrack(8) cannot do. The kernel
rules: a helper can only be set when the conntrack is created (update cannot
add or change it: EOPNOTSUPP / EBUSY), the name must be a helper registered
for the conntrack's family and protocol (kernel helpers such as ftp, tftp, sip,
or user-space ones from 'gonfct helper add'; else EOPNOTSUPP), and private data
(--helper-info) is kept only by user-space helpers, up to 32 bytes: for a
kernel helper gonfct refuses it (exit 1, nothing added), where the kernel
would drop it without a word. The kernel drops private data given at creation (it offers it to the helper before
attaching the helper), so gonfct sends it again in an update right after.

The conntrack is added whole or not at all: where the kernel drops its
labels (a namespace whose ruleset uses none), it is removed again.`,
		Example: `  gonfct ct add tcp 10.0.0.1 10.0.0.2 40000 21 --timeout 3600 --state ESTABLISHED --status assured,seen-reply --helper ftp
  gonfct ct add udp 10.0.0.1 10.0.0.2 5000 69 -t 60 --reply "udp 10.0.0.2 192.0.2.1 69 5000" --mark 7 --zone 3`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f := &opts.flow
			var err error
			if f.Orig, err = ctcli.ParseTuple("tuple", args...); err != nil {
				return err
			}
			f.Family = f.Orig.Family()
			if reply != "" {
				if f.Reply, err = ctcli.ParseTuple("--reply", reply); err != nil {
					return err
				}
				if f.Reply.Proto != f.Orig.Proto || f.Reply.Family() != f.Family {
					return cli.Usagef("--reply %q: the reply tuple must have the original's protocol and family", reply)
				}
			} else {
				f.Reply = ctflow.Invert(f.Orig)
			}
			if s.timeout == "" {
				return cli.Usagef("ct add needs --timeout DURATION, such as 300 or 5m (the kernel refuses a conntrack without one)")
			}
			if _, err := s.apply(f, false); err != nil {
				return err
			}
			if f.Has(ctflow.HasHelperInfo) && !f.Has(ctflow.HasHelper) {
				return cli.Usagef("--helper-info needs --helper NAME: private data belongs to a helper")
			}
			if runF != nil {
				return runF(opts)
			}
			return addRun(opts)
		},
	}
	s.add(cmd.Flags(), "helper to attach (only possible at creation)")
	s.addLabels(cmd.Flags(), false)
	cmd.Flags().StringVar(&reply, "reply", "", `reply tuple, "PROTO SRC DST [SPORT DPORT]" (default: the original inverted)`)
	ctcli.QuietFlag(cmd, &opts.quiet)
	return cmd
}

func addRun(opts *AddOptions) error {
	return ctcli.Change(opts.env, opts.quiet, "1 flow entries have been created.", func(c *ctnl.Conn) error {
		if err := checkHelperInfo(c, &opts.flow, "add conntrack "+opts.flow.Orig.String()); err != nil {
			return err
		}
		return adviseAdd(&opts.flow, ctflow.NewClient(c).Create(&opts.flow))
	})
}

// UpdateOptions serve `ct update`.
type UpdateOptions struct {
	env      *cli.Env
	flow     ctflow.Flow // the changes; Orig (and Zone) find the conntrack
	markMask uint32
	quiet    bool
	// bulk: change every conntrack filter selects (conntrack -U with
	// filters) instead of the one flow.Orig names.
	bulk   bool
	filter ctflow.Filter
}

// NewCmdUpdate is `ct update`.
func NewCmdUpdate(env *cli.Env, runF func(*UpdateOptions) error) *cobra.Command {
	opts := &UpdateOptions{env: env}
	var (
		s  flowSettings
		ff filterFlags
	)
	cmd := &cobra.Command{
		Use:   "update PROTO SRC DST [SPORT DPORT] | update [filters] [--timeout S] [--mark M[/MASK]] [--label-add L] [--status ...]",
		Args:  ctcli.QuietArgs(&opts.quiet, cobra.ArbitraryArgs),
		Short: "Change a conntrack's timeout, mark, status, state, labels or helper private data",
		Long: `Change an existing conntrack in place. Status bits can only be set, never
cleared. --helper-info hands new private data to the conntrack's existing
helper. The helper itself never changes after creation: --helper NAME is
accepted for the helper the conntrack has (a no-op), and the kernel refuses
any other (EBUSY), or any helper for a conntrack created without one
(EOPNOTSUPP).

Without a tuple, as conntrack -U with filters, every conntrack the filters
select (-f, -p, -s, -d, --sport, --dport, --reply-*, -l/--label) is
changed; the count line says how many. Labels: --label-add sets bits and
keeps the others, --label-del clears bits ("all": every one), --label-set
sets exactly the bits given.`,
		Example: `  gonfct ct update tcp 10.0.0.1 10.0.0.2 40000 21 --timeout 600 --mark 0x10/0xf0
  gonfct ct update -s 10.0.0.0/24 --mark 1
  gonfct ct update -l blocked --label-del blocked --label-add allowed`,
		RunE: func(cmd *cobra.Command, args []string) error {
			f := &opts.flow
			var err error
			if len(args) == 0 {
				if !ff.any() {
					return cli.Usagef("ct update needs a tuple or at least one filter (-s, -d, -p, -l, ...)")
				}
				if opts.filter, err = ff.filter(); err != nil {
					return err
				}
				opts.bulk = true
			} else {
				if ff.any() {
					return cli.Usagef("ct update takes a tuple or filters, not both (-l/--label selects; --label-set, --label-add and --label-del change labels)")
				}
				if f.Orig, err = ctcli.ParseTuple("tuple", args...); err != nil {
					return err
				}
				f.Family = f.Orig.Family()
			}
			if opts.markMask, err = s.apply(f, true); err != nil {
				return err
			}
			if f.Set&^ctflow.HasZone == 0 {
				return cli.Usagef("ct update needs something to change: --timeout, --mark, --status, --state, --label-set/--label-add/--label-del, --helper or --helper-info")
			}
			if runF != nil {
				return runF(opts)
			}
			return updateRun(opts)
		},
	}
	s.add(cmd.Flags(), "the conntrack's helper (it cannot change; default with --helper-info: the current one)")
	s.addLabels(cmd.Flags(), true)
	ff.addSelection(cmd.Flags())
	ctcli.QuietFlag(cmd, &opts.quiet)
	return cmd
}

func updateRun(opts *UpdateOptions) error {
	if opts.bulk {
		c, err := opts.env.Conn()
		if err != nil {
			return err
		}
		defer c.Close()
		c2, err := opts.env.Conn()
		if err != nil {
			return err
		}
		defer c2.Close()
		n, err := ctflow.NewClient(c).UpdateMatching(opts.filter, &opts.flow, opts.markMask, ctflow.NewClient(c2))
		if err != nil {
			return adviseUpdate(err)
		}
		ctcli.Say(opts.env, opts.quiet, "%d flow entries have been updated.", n)
		return nil
	}
	return ctcli.Change(opts.env, opts.quiet, "1 flow entries have been updated.", func(c *ctnl.Conn) error {
		if err := checkHelperInfo(c, &opts.flow, "update conntrack "+opts.flow.Orig.String()); err != nil {
			return adviseUpdate(err)
		}
		return adviseUpdate(ctflow.NewClient(c).Change(&opts.flow, opts.markMask))
	})
}

// ---- delete and flush

// DeleteOptions serve `ct delete`.
type DeleteOptions struct {
	env *cli.Env
	// byKey: delete the conntrack key names; else what filter selects.
	byKey  bool
	key    ctnetlink.Key
	filter ctflow.Filter
	quiet  bool
}

// NewCmdDelete is `ct delete`.
func NewCmdDelete(env *cli.Env, runF func(*DeleteOptions) error) *cobra.Command {
	opts := &DeleteOptions{env: env}
	var ff filterFlags
	cmd := &cobra.Command{
		Use:   "delete PROTO SRC DST [SPORT DPORT] | delete [filters]",
		Args:  ctcli.QuietArgs(&opts.quiet, cobra.ArbitraryArgs),
		Short: "Delete the conntrack with this tuple, or every conntrack that passes the filters",
		Example: `  gonfct ct delete tcp 10.0.0.1 10.0.0.2 40000 21
  gonfct ct delete --helper ftp --src 10.0.0.0/24`,
		RunE: func(cmd *cobra.Command, args []string) error {
			var err error
			if len(args) > 0 {
				zone := ff.Zone
				ff.Zone = ""
				if ff.any() {
					return cli.Usagef("ct delete takes a tuple or filters, not both (with a tuple, only --zone)")
				}
				opts.byKey = true
				if opts.key, err = ctcli.ParseKey(args, zone); err != nil {
					return err
				}
			} else {
				if !ff.any() {
					return cli.Usagef("ct delete needs a tuple or at least one filter (to delete everything, use ct flush)")
				}
				if opts.filter, err = ff.filter(); err != nil {
					return err
				}
			}
			if runF != nil {
				return runF(opts)
			}
			return deleteRun(opts)
		},
	}
	ff.add(cmd.Flags())
	ctcli.QuietFlag(cmd, &opts.quiet)
	return cmd
}

func deleteRun(opts *DeleteOptions) error {
	if !opts.byKey {
		return flushRun(&FlushOptions{env: opts.env, filter: opts.filter, quiet: opts.quiet})
	}
	return ctcli.Change(opts.env, opts.quiet, "1 flow entries have been deleted.", func(c *ctnl.Conn) error {
		return adviseLookup(ctflow.NewClient(c).Delete(opts.key))
	})
}

// FlushOptions serve `ct flush`.
type FlushOptions struct {
	env    *cli.Env
	filter ctflow.Filter
	quiet  bool
}

// NewCmdFlush is `ct flush`.
func NewCmdFlush(env *cli.Env, runF func(*FlushOptions) error) *cobra.Command {
	opts := &FlushOptions{env: env}
	var ff filterFlags
	cmd := &cobra.Command{
		Use:   "flush [filters]",
		Short: "Delete every conntrack of the namespace (or those that pass the filters)",
		Example: `  gonfct ct flush
  gonfct ct flush --helper ftp
  gonfct --netns fw1 ct flush -p udp -q`,
		Args: ctcli.QuietArgs(&opts.quiet, cli.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			var err error
			if opts.filter, err = ff.filter(); err != nil {
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
	return ctcli.Flush(opts.env, opts.quiet, opts.filter.IsZero(), "connection tracking table has been emptied.", "flow entries",
		func(c *ctnl.Conn) error { return ctflow.NewClient(c).Flush() },
		func(c, c2 *ctnl.Conn) (int, error) {
			return ctflow.NewClient(c).DeleteMatching(opts.filter, ctflow.NewClient(c2))
		})
}
