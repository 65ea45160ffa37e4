// Package ct is the `gonfct ct` command group: conntracks of one network
// namespace (ctnetlink) with their helper attributes; list, get, add, update,
// delete, flush, watch, save and restore. What it shares with the expect
// group (flags, count lines, the watch loop) is in internal/cmd/ctcli.
package ct

import (
	"strconv"
	"strings"

	"github.com/gonfct/gonfct/internal/cli"
	"github.com/gonfct/gonfct/internal/cmd/ctcli"
	"github.com/gonfct/gonfct/internal/output"
	"github.com/gonfct/gonfct/pkg/ctflow"
	"github.com/gonfct/gonfct/pkg/ctnetlink"
	"github.com/gonfct/gonfct/pkg/ctnl"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/sys/unix"
)

// NewCmdCt is the `ct` group.
func NewCmdCt(env *cli.Env) *cobra.Command {
	letters := map[string]*cobra.Command{
		"-L": NewCmdList(env, nil),
		"-U": NewCmdUpdate(env, nil),
		"-D": NewCmdDelete(env, nil),
		"-F": NewCmdFlush(env, nil),
		"-E": NewCmdWatch(env, nil),
		"-C": NewCmdCount(env, nil),
		"-S": NewCmdStats(env, nil),
	}
	g := cli.NewGroup("ct", "Conntracks (ctnetlink): list, get, add with helper, update, delete, flush, watch, save and restore",
		letters["-L"],
		NewCmdGet(env, nil),
		NewCmdAdd(env, nil),
		letters["-U"],
		letters["-D"],
		letters["-F"],
		letters["-E"],
		NewCmdSave(env, nil),
		NewCmdRestore(env, nil),
		letters["-C"],
		letters["-S"],
	)
	ctcli.Letters(g, letters)
	g.Example = `  gonfct ct list --helper ftp
  gonfct ct add tcp 10.0.0.1 10.0.0.2 40000 21 --timeout 3600 --state ESTABLISHED --status assured,seen-reply --helper ftp
  gonfct ct save > state.json && gonfct --netns standby ct restore < state.json`
	g.Long = `Conntracks of one network namespace (ctnetlink), with their helper name and
private data. Unlike conntrack(8), "ct add" can attach a helper (--helper), and
"ct save"/"ct restore" carry helpers and expectations to a standby firewall.

Each command reports its count on stderr in conntrack's words ("N flow
entries have been shown."); --quiet drops that line.

conntrack's command letters work too: -L, -U, -D, -F, -E, -C, -S (or
--dump, --update, ...) are list, update, delete, flush, watch, count and
stats; and its long option words (--orig-src, --orig-port-dst,
--reply-port-src, ...) are aliases of gonfct's filter flags. -q is
gonfct's --quiet: conntrack's -q ADDR (reply destination) is --reply-dst
ADDR, and an address after -q is refused with that fix.

Besides -o text, table and json, list, get and watch take conntrack's -o
words, comma-separated, for conntrack's text lines byte for byte: extended
(layer 3 first), id, ktimestamp (kernel timestamps: sysctl
net.netfilter.nf_conntrack_timestamp=1), labels (names from
/etc/xtables/connlabel.conf), timestamp (watch: the time each event was
read) and save (alone: conntrack options, for conntrack -R or gonfct's
conntrack-style scripts).`
	return g
}

// filterFlags are the filter flags of list, delete, flush, watch and save:
// the ones expect has too, and the reply direction, mark, status and state.
type filterFlags struct {
	ctcli.FilterFlags
	replySrc, replyDst, replySport, replyDport string
	mark, status, state                        string
	labels                                     []string
}

func (ff *filterFlags) add(fs *pflag.FlagSet) {
	ff.FilterFlags.Add(fs, "original", `only conntracks with this helper ("none": without one)`)
	fs.StringVarP(&ff.replySrc, "reply-src", "r", "", "reply source address or prefix")
	fs.StringVar(&ff.replyDst, "reply-dst", "", "reply destination address or prefix (conntrack: -q)")
	fs.StringVar(&ff.replySport, "reply-sport", "", "reply source port")
	fs.StringVar(&ff.replyDport, "reply-dport", "", "reply destination port")
	ctcli.ConntrackAliases(fs)
	fs.StringVarP(&ff.mark, "mark", "m", "", "only this mark: MARK or MARK/MASK")
	fs.StringVarP(&ff.status, "status", "u", "", "only conntracks with these status bits set (!BIT: clear; unreplied: !seen-reply): assured,seen-reply,...")
	fs.StringVar(&ff.state, "state", "", "only this protocol state (TCP unless --proto says otherwise): ESTABLISHED, ...")
	ff.addLabel(fs)
}

func (ff *filterFlags) addLabel(fs *pflag.FlagSet) {
	fs.StringSliceVarP(&ff.labels, "label", "l", nil, "only conntracks with all these labels: bits 0-127 or names from "+ctflow.ConnlabelConf)
}

// addSelection registers the filters that do not set anything in an
// update too: family, protocol, addresses, ports and labels.
func (ff *filterFlags) addSelection(fs *pflag.FlagSet) {
	fs.StringVarP(&ff.Family, "family", "f", "", "only this family: ipv4 or ipv6")
	fs.StringVarP(&ff.Proto, "proto", "p", "", "only this protocol: tcp, udp, icmp, ... or a number")
	fs.StringVarP(&ff.Src, "src", "s", "", "original source address or prefix")
	fs.StringVarP(&ff.Dst, "dst", "d", "", "original destination address or prefix")
	fs.StringVar(&ff.Sport, "sport", "", "original source port")
	fs.StringVar(&ff.Dport, "dport", "", "original destination port")
	fs.StringVarP(&ff.replySrc, "reply-src", "r", "", "reply source address or prefix")
	fs.StringVar(&ff.replyDst, "reply-dst", "", "reply destination address or prefix (conntrack: -q)")
	fs.StringVar(&ff.replySport, "reply-sport", "", "reply source port")
	fs.StringVar(&ff.replyDport, "reply-dport", "", "reply destination port")
	ff.addLabel(fs)
	ctcli.ConntrackAliases(fs)
}

func (ff *filterFlags) any() bool {
	return ff.FilterFlags.Any() || ff.replySrc != "" || ff.replyDst != "" || ff.replySport != "" || ff.replyDport != "" ||
		ff.mark != "" || ff.status != "" || ff.state != "" || len(ff.labels) > 0
}

// parseMark reads MARK or MARK/MASK (decimal or 0x hex).
func parseMark(s string) (mark, mask uint32, err error) {
	m, k, hasMask := strings.Cut(s, "/")
	mv, err := strconv.ParseUint(m, 0, 32)
	if err != nil {
		return 0, 0, cli.Usagef("--mark %q: want MARK or MARK/MASK, numbers up to 0xffffffff", s)
	}
	mask = 0xffffffff
	if hasMask {
		kv, err := strconv.ParseUint(k, 0, 32)
		if err != nil {
			return 0, 0, cli.Usagef("--mark %q: want MARK or MARK/MASK, numbers up to 0xffffffff", s)
		}
		mask = uint32(kv)
	}
	return uint32(mv), mask, nil
}

func (ff *filterFlags) filter() (ctflow.Filter, error) {
	sel, err := ff.FilterFlags.Parse()
	if err != nil {
		return ctflow.Filter{}, err
	}
	f := ctflow.Filter{Family: sel.Family, Proto: sel.Proto, HasProto: sel.HasProto, Src: sel.Src, Dst: sel.Dst,
		Sport: sel.Sport, Dport: sel.Dport, Zone: sel.Zone, HasZone: sel.HasZone, Helper: sel.Helper, HasHelper: sel.HasHelper}
	if len(f.Helper) > ctflow.HelperNameMax {
		return f, cli.Usagef("--helper %q: helper names have at most %d bytes", f.Helper, ctflow.HelperNameMax)
	}
	if f.ReplySrc, err = ctcli.ParsePrefix("reply-src", ff.replySrc); err != nil {
		return f, err
	}
	if f.ReplyDst, err = ctcli.ParsePrefix("reply-dst", ff.replyDst); err != nil {
		return f, err
	}
	if err := ctcli.CheckFamilies(f.Family, []string{"src", "dst", "reply-src", "reply-dst"}, f.Src, f.Dst, f.ReplySrc, f.ReplyDst); err != nil {
		return f, err
	}
	if f.ReplySport, err = ctcli.ParsePort("reply-sport", ff.replySport); err != nil {
		return f, err
	}
	if f.ReplyDport, err = ctcli.ParsePort("reply-dport", ff.replyDport); err != nil {
		return f, err
	}
	if ff.mark != "" {
		if f.Mark, f.MarkMask, err = parseMark(ff.mark); err != nil {
			return f, err
		}
		f.Mark &= f.MarkMask
		f.HasMark = true
	}
	if ff.status != "" {
		if f.Status, f.StatusClear, err = ctflow.ParseStatusFilter(ff.status); err != nil {
			return f, cli.Usagef("--status: %v", err)
		}
	}
	if len(ff.labels) > 0 {
		if f.Labels, err = ctflow.ParseLabels(ff.labels, ctflow.ConnlabelConf); err != nil {
			return f, cli.Usagef("--label: %v", err)
		}
	}
	if ff.state != "" {
		if !f.HasProto {
			f.Proto, f.HasProto = unix.IPPROTO_TCP, true
		}
		if f.State, err = ctflow.ParseState(f.Proto, ff.state); err != nil {
			return f, cli.Usagef("--state: %v", err)
		}
		f.HasState = true
	}
	return f, nil
}

// ---- list

// ListOptions serve `ct list`.
type ListOptions struct {
	env    *cli.Env
	table  ctflow.Table
	filter ctflow.Filter
	quiet  bool
}

// parseTable reads list's argument, conntrack -L's table names.
func parseTable(args []string) (ctflow.Table, error) {
	if len(args) == 0 {
		return ctflow.Main, nil
	}
	switch strings.ToLower(args[0]) {
	case "conntrack":
		return ctflow.Main, nil
	case "dying":
		return ctflow.Dying, nil
	case "unconfirmed":
		return ctflow.Unconfirmed, nil
	case "expect", "expectation":
		return 0, cli.Usagef("expectations are listed by `gonfct expect list`")
	}
	return 0, cli.Usagef("unknown table %q: want conntrack (the default), dying or unconfirmed", args[0])
}

// NewCmdList is `ct list`.
func NewCmdList(env *cli.Env, runF func(*ListOptions) error) *cobra.Command {
	opts := &ListOptions{env: env}
	var ff filterFlags
	cmd := &cobra.Command{
		Use:   "list [dying|unconfirmed] [filters]",
		Short: "List conntracks (streaming; conntrack -L's line format with -o text)",
		Example: `  gonfct ct list
  gonfct ct list -p tcp --dport 21 --helper ftp
  gonfct ct list -u unreplied
  gonfct ct list --mark 0x10/0xf0 -o json
  gonfct ct list dying`,
		Long: `List the conntrack table, or, as conntrack -L dying / -L unconfirmed, the
kernel's list of conntracks on their way out or of new ones not yet
confirmed (debugging only; usually empty). Filters combine with AND; what
the kernel can filter is sent with the dump, the rest is checked as the
table streams by. -u/--status takes conntrack's words: assured,
seen-reply, fixed-timeout, expected, offload, ..., each may start with !
(bit clear); unreplied is !seen-reply.`,
		Args: ctcli.QuietArgs(&opts.quiet, cobra.MaximumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			var err error
			if opts.table, err = parseTable(args); err != nil {
				return err
			}
			if opts.filter, err = ff.filter(); err != nil {
				return err
			}
			if runF != nil {
				return runF(opts)
			}
			return listRun(opts)
		},
	}
	ff.add(cmd.Flags())
	ctcli.QuietFlag(cmd, &opts.quiet)
	return cmd
}

func listRun(opts *ListOptions) error {
	env, o, err := textFormat(opts.env, false)
	if err != nil {
		return err
	}
	if err := o.labelFilter(&opts.filter); err != nil {
		return err
	}
	rec := &flowRecord{o: o}
	w, err := ctcli.Print(env, output.List, ctflow.Columns, func(c *ctnl.Conn, w *output.Writer) error {
		return ctflow.NewClient(c).ListTable(opts.table, opts.filter, func(f *ctflow.Flow) error {
			rec.f = f
			return w.Write(rec)
		})
	})
	if err != nil {
		return err
	}
	ctcli.Say(opts.env, opts.quiet, "%d flow entries have been shown.", w.Count())
	return nil
}

// ---- get

// GetOptions serve `ct get`.
type GetOptions struct {
	env   *cli.Env
	key   ctnetlink.Key
	quiet bool
}

// NewCmdGet is `ct get`.
func NewCmdGet(env *cli.Env, runF func(*GetOptions) error) *cobra.Command {
	opts := &GetOptions{env: env}
	var zone string
	cmd := &cobra.Command{
		Use:   "get PROTO SRC DST [SPORT DPORT] | get proto=P src=A dst=B [sport=N dport=N]",
		Short: "Show the conntrack with this original tuple",
		Example: `  gonfct ct get tcp 10.0.0.1 10.0.0.2 40000 21
  gonfct ct get proto=udp src=fd00::1 dst=fd00::2 sport=5000 dport=69 -o json`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var err error
			if opts.key, err = ctcli.ParseKey(args, zone); err != nil {
				return err
			}
			if runF != nil {
				return runF(opts)
			}
			return getRun(opts)
		},
	}
	cmd.Flags().StringVar(&zone, "zone", "", "the conntrack's zone")
	ctcli.QuietFlag(cmd, &opts.quiet)
	return cmd
}

func getRun(opts *GetOptions) error {
	env, o, err := textFormat(opts.env, false)
	if err != nil {
		return err
	}
	_, err = ctcli.Print(env, output.Single, ctflow.Columns, func(c *ctnl.Conn, w *output.Writer) error {
		var f ctflow.Flow
		if err := ctflow.NewClient(c).Get(opts.key, &f); err != nil {
			return adviseLookup(err)
		}
		return w.Write(&flowRecord{f: &f, o: o})
	})
	if err != nil {
		return err
	}
	ctcli.Say(opts.env, opts.quiet, "1 flow entries have been shown.")
	return nil
}
