// Package ct is the `gonfct ct` command group: conntracks of one network
// namespace (ctnetlink) with their helper attributes; list, get, add, update,
// delete, flush, watch, save and restore.
package ct

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/gonfct/gonfct/internal/cli"
	"github.com/gonfct/gonfct/internal/output"
	"github.com/gonfct/gonfct/pkg/ctflow"
	"github.com/gonfct/gonfct/pkg/ctnl"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/sys/unix"
)

func NewCmdCt(env *cli.Env) *cobra.Command {
	g := cli.NewGroup("ct", "Conntracks (ctnetlink): list, get, add with helper, update, delete, flush, watch, save and restore",
		NewCmdList(env, nil),
		NewCmdGet(env, nil),
		NewCmdAdd(env, nil),
		NewCmdUpdate(env, nil),
		NewCmdDelete(env, nil),
		NewCmdFlush(env, nil),
		NewCmdWatch(env, nil),
		NewCmdSave(env, nil),
		NewCmdRestore(env, nil),
	)
	g.Example = `  gonfct ct list --helper ftp
  gonfct ct add tcp 10.0.0.1 10.0.0.2 40000 21 --timeout 3600 --state ESTABLISHED --status assured,seen-reply --helper ftp
  gonfct ct save > state.json && gonfct --netns standby ct restore < state.json`
	g.Long = `Conntracks of one network namespace (ctnetlink), with their helper name and
private data. Unlike conntrack(8), "ct add" can attach a helper (--helper), and
"ct save"/"ct restore" carry helpers and expectations to a standby firewall.

Each command reports its count on stderr in conntrack's words ("N flow
entries have been shown."); --quiet drops that line.`
	return g
}

// filterFlags are the filter flags list, delete, flush, watch and save share.
type filterFlags struct {
	family, proto                        string
	src, dst, replySrc, replyDst         string
	sport, dport, replySport, replyDport string
	helper, mark, zone, status, state    string
	changed                              func(string) bool
}

func addFilterFlags(fs *pflag.FlagSet, ff *filterFlags) {
	fs.StringVarP(&ff.family, "family", "f", "", "only this family: ipv4 or ipv6")
	fs.StringVarP(&ff.proto, "proto", "p", "", "only this protocol: tcp, udp, icmp, ... or a number")
	fs.StringVarP(&ff.src, "src", "s", "", "original source address or prefix")
	fs.StringVarP(&ff.dst, "dst", "d", "", "original destination address or prefix")
	fs.StringVar(&ff.replySrc, "reply-src", "", "reply source address or prefix")
	fs.StringVar(&ff.replyDst, "reply-dst", "", "reply destination address or prefix")
	fs.StringVar(&ff.sport, "sport", "", "original source port")
	fs.StringVar(&ff.dport, "dport", "", "original destination port")
	fs.StringVar(&ff.replySport, "reply-sport", "", "reply source port")
	fs.StringVar(&ff.replyDport, "reply-dport", "", "reply destination port")
	fs.StringVar(&ff.helper, "helper", "", `only conntracks with this helper ("none": without one)`)
	fs.StringVarP(&ff.mark, "mark", "m", "", "only this mark: MARK or MARK/MASK")
	fs.StringVar(&ff.zone, "zone", "", "only this zone")
	fs.StringVar(&ff.status, "status", "", "only conntracks with all these status bits: assured,seen-reply,...")
	fs.StringVar(&ff.state, "state", "", "only this protocol state (TCP unless --proto says otherwise): ESTABLISHED, ...")
}

func (ff *filterFlags) any() bool {
	for _, s := range []string{ff.family, ff.proto, ff.src, ff.dst, ff.replySrc, ff.replyDst, ff.sport, ff.dport,
		ff.replySport, ff.replyDport, ff.helper, ff.mark, ff.zone, ff.status, ff.state} {
		if s != "" {
			return true
		}
	}
	return false
}

func parsePrefix(flag, s string) (netip.Prefix, error) {
	if s == "" {
		return netip.Prefix{}, nil
	}
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return p, cli.Usagef("--%s %q: want an address or a prefix such as 10.0.0.0/8", flag, s)
		}
		return p.Masked(), nil
	}
	a, err := ctnl.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, cli.Usagef("--%s: %v", flag, err)
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

func parsePort(flag, s string) (ctflow.Port, error) {
	if s == "" {
		return ctflow.Port{}, nil
	}
	n, err := ctnl.ParsePort(s)
	if err != nil {
		return ctflow.Port{}, cli.Usagef("--%s: %v", flag, err)
	}
	return ctflow.Port{Set: true, N: n}, nil
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
	var f ctflow.Filter
	var err error
	if ff.family != "" {
		if f.Family, err = ctnl.ParseFamily(ff.family); err != nil {
			return f, cli.Usage(err)
		}
	}
	if ff.proto != "" {
		if f.Proto, err = ctnl.ParseProto(ff.proto); err != nil {
			return f, cli.Usage(err)
		}
		f.HasProto = true
	}
	for _, p := range []struct {
		flag, val string
		dst       *netip.Prefix
	}{{"src", ff.src, &f.Src}, {"dst", ff.dst, &f.Dst}, {"reply-src", ff.replySrc, &f.ReplySrc}, {"reply-dst", ff.replyDst, &f.ReplyDst}} {
		if *p.dst, err = parsePrefix(p.flag, p.val); err != nil {
			return f, err
		}
		if p.dst.IsValid() && f.Family != 0 && (p.dst.Addr().Is4() != (f.Family == unix.AF_INET)) {
			return f, cli.Usagef("--%s %s does not match --family %s", p.flag, p.val, ff.family)
		}
	}
	v4, v6 := false, false
	for _, p := range []netip.Prefix{f.Src, f.Dst, f.ReplySrc, f.ReplyDst} {
		if p.IsValid() {
			v4, v6 = v4 || p.Addr().Is4(), v6 || !p.Addr().Is4()
		}
	}
	if v4 && v6 {
		return f, cli.Usagef("the address filters mix IPv4 and IPv6: no conntrack can match")
	}
	for _, p := range []struct {
		flag, val string
		dst       *ctflow.Port
	}{{"sport", ff.sport, &f.Sport}, {"dport", ff.dport, &f.Dport}, {"reply-sport", ff.replySport, &f.ReplySport}, {"reply-dport", ff.replyDport, &f.ReplyDport}} {
		if *p.dst, err = parsePort(p.flag, p.val); err != nil {
			return f, err
		}
	}
	if ff.helper != "" {
		f.HasHelper = true
		if ff.helper != "none" {
			f.Helper = ff.helper
		}
		if len(f.Helper) > ctflow.HelperNameMax {
			return f, cli.Usagef("--helper %q: helper names have at most %d bytes", ff.helper, ctflow.HelperNameMax)
		}
	}
	if ff.mark != "" {
		if f.Mark, f.MarkMask, err = parseMark(ff.mark); err != nil {
			return f, err
		}
		f.Mark &= f.MarkMask
		f.HasMark = true
	}
	if ff.zone != "" {
		if f.Zone, err = cli.ParseZone(ff.zone); err != nil {
			return f, err
		}
		f.HasZone = true
	}
	if ff.status != "" {
		if f.Status, err = ctflow.ParseStatus(ff.status); err != nil {
			return f, cli.Usagef("--status: %v", err)
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

func parseTupleArgs(args []string, what string) (ctnl.Tuple, error) {
	t, err := ctnl.ParseTuple(args)
	if err != nil {
		return t, cli.Usagef("%s: %v", what, err)
	}
	return t, nil
}

// quietFlag adds --quiet, which drops the conntrack-style count line.
func quietFlag(cmd *cobra.Command, q *bool) {
	cmd.Flags().BoolVarP(q, "quiet", "q", false, "do not report the count on stderr")
}

func summary(env *cli.Env, quiet bool, format string, args ...any) {
	if !quiet {
		fmt.Fprintf(env.Err, "gonfct: "+format+"\n", args...)
	}
}

// ---- list

type ListOptions struct {
	env    *cli.Env
	filter ctflow.Filter
	quiet  bool
}

func NewCmdList(env *cli.Env, runF func(*ListOptions) error) *cobra.Command {
	opts := &ListOptions{env: env}
	var ff filterFlags
	cmd := &cobra.Command{
		Use:   "list [filters]",
		Short: "List conntracks (streaming; conntrack -L's line format with -o text)",
		Example: `  gonfct ct list
  gonfct ct list -p tcp --dport 21 --helper ftp
  gonfct ct list --mark 0x10/0xf0 -o json`,
		Args: cli.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var err error
			if opts.filter, err = ff.filter(); err != nil {
				return err
			}
			if runF != nil {
				return runF(opts)
			}
			return listRun(opts)
		},
	}
	addFilterFlags(cmd.Flags(), &ff)
	quietFlag(cmd, &opts.quiet)
	return cmd
}

func listRun(opts *ListOptions) error {
	w, err := opts.env.Writer(output.List, ctflow.Columns)
	if err != nil {
		return err
	}
	c, err := opts.env.Conn()
	if err != nil {
		return err
	}
	defer c.Close()
	cl := ctflow.NewClient(c)
	write := func(f *ctflow.Flow) error { return w.Write(f) }
	if w.Format() == output.JSON {
		// A record the json package marshals by reflection: a MarshalJSON
		// method's output would be parsed and compacted again.
		write = func(f *ctflow.Flow) error { return w.Write(jsonRecord{f.JSON(), f}) }
	}
	err = cl.List(&opts.filter, write)
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	summary(opts.env, opts.quiet, "%d flow entries have been shown.", w.Count())
	return nil
}

// jsonRecord is a flow for -o json.
type jsonRecord struct {
	ctflow.FlowJSON
	f *ctflow.Flow
}

func (r jsonRecord) AppendText(b []byte) []byte { return r.f.AppendText(b) }
func (r jsonRecord) Row() []string              { return r.f.Row() }

// ---- get

type GetOptions struct {
	env     *cli.Env
	tuple   ctnl.Tuple
	zone    uint16
	hasZone bool
	quiet   bool
}

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
			if opts.tuple, err = parseTupleArgs(args, "tuple"); err != nil {
				return err
			}
			if zone != "" {
				if opts.zone, err = cli.ParseZone(zone); err != nil {
					return err
				}
				opts.hasZone = true
			}
			if runF != nil {
				return runF(opts)
			}
			return getRun(opts)
		},
	}
	cmd.Flags().StringVar(&zone, "zone", "", "the conntrack's zone")
	quietFlag(cmd, &opts.quiet)
	return cmd
}

func getRun(opts *GetOptions) error {
	w, err := opts.env.Writer(output.Single, ctflow.Columns)
	if err != nil {
		return err
	}
	c, err := opts.env.Conn()
	if err != nil {
		return err
	}
	defer c.Close()
	var f ctflow.Flow
	if err := ctflow.NewClient(c).Get(opts.tuple, opts.zone, opts.hasZone, &f); err != nil {
		return err
	}
	if err := w.Write(&f); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	summary(opts.env, opts.quiet, "1 flow entries have been shown.")
	return nil
}
