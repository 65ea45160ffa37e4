package main

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gonfct/gonfct/internal/cli"
	"github.com/gonfct/gonfct/internal/output"
	"github.com/gonfct/gonfct/pkg/ctflow"
	"github.com/gonfct/gonfct/pkg/ctnetlink"
	"github.com/gonfct/gonfct/pkg/ctnl"
	"github.com/gonfct/gonfct/pkg/expect"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/sys/unix"
)

func init() { commandGroups = append(commandGroups, newCtCmd) }

func newCtCmd(env *cli.Env) *cobra.Command {
	g := newGroup("ct", "Conntracks (ctnetlink): list, get, add with helper, update, delete, flush, watch, save and restore",
		newCmdCtList(env, nil),
		newCmdCtGet(env, nil),
		newCmdCtAdd(env, nil),
		newCmdCtUpdate(env, nil),
		newCmdCtDelete(env, nil),
		newCmdCtFlush(env, nil),
		newCmdCtWatch(env, nil),
		newCmdCtSave(env, nil),
		newCmdCtRestore(env, nil),
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

// ctFilterFlags are the filter flags list, delete, flush, watch and save share.
type ctFilterFlags struct {
	family, proto                        string
	src, dst, replySrc, replyDst         string
	sport, dport, replySport, replyDport string
	helper, mark, zone, status, state    string
	changed                              func(string) bool
}

func addCtFilterFlags(fs *pflag.FlagSet, ff *ctFilterFlags) {
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

func (ff *ctFilterFlags) any() bool {
	for _, s := range []string{ff.family, ff.proto, ff.src, ff.dst, ff.replySrc, ff.replyDst, ff.sport, ff.dport,
		ff.replySport, ff.replyDport, ff.helper, ff.mark, ff.zone, ff.status, ff.state} {
		if s != "" {
			return true
		}
	}
	return false
}

func ctParsePrefix(flag, s string) (netip.Prefix, error) {
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
	a, err := ctnetlink.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, cli.Usagef("--%s: %v", flag, err)
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

func ctParsePort(flag, s string) (ctflow.Port, error) {
	if s == "" {
		return ctflow.Port{}, nil
	}
	n, err := ctnetlink.ParsePort(s)
	if err != nil {
		return ctflow.Port{}, cli.Usagef("--%s: %v", flag, err)
	}
	return ctflow.Port{Set: true, N: n}, nil
}

// ctParseMark reads MARK or MARK/MASK (decimal or 0x hex).
func ctParseMark(s string) (mark, mask uint32, err error) {
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

func (ff *ctFilterFlags) filter() (ctflow.Filter, error) {
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
		if *p.dst, err = ctParsePrefix(p.flag, p.val); err != nil {
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
		if *p.dst, err = ctParsePort(p.flag, p.val); err != nil {
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
		if f.Mark, f.MarkMask, err = ctParseMark(ff.mark); err != nil {
			return f, err
		}
		f.Mark &= f.MarkMask
		f.HasMark = true
	}
	if ff.zone != "" {
		if f.Zone, err = parseZone(ff.zone); err != nil {
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

func ctParseTupleArgs(args []string, what string) (ctnetlink.Tuple, error) {
	t, err := ctnetlink.ParseTuple(args)
	if err != nil {
		return t, cli.Usagef("%s: %v", what, err)
	}
	return t, nil
}

// ctQuietFlag adds --quiet, which drops the conntrack-style count line.
func ctQuietFlag(cmd *cobra.Command, q *bool) {
	cmd.Flags().BoolVarP(q, "quiet", "q", false, "do not report the count on stderr")
}

func ctSummary(env *cli.Env, quiet bool, format string, args ...any) {
	if !quiet {
		fmt.Fprintf(env.Err, "gonfct: "+format+"\n", args...)
	}
}

// ---- list

type ctListOptions struct {
	env    *cli.Env
	filter ctflow.Filter
	quiet  bool
}

func newCmdCtList(env *cli.Env, runF func(*ctListOptions) error) *cobra.Command {
	opts := &ctListOptions{env: env}
	var ff ctFilterFlags
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
			return ctListRun(opts)
		},
	}
	addCtFilterFlags(cmd.Flags(), &ff)
	ctQuietFlag(cmd, &opts.quiet)
	return cmd
}

func ctListRun(opts *ctListOptions) error {
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
	err = cl.List(&opts.filter, func(f *ctflow.Flow) error { return w.Write(f) })
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	ctSummary(opts.env, opts.quiet, "%d flow entries have been shown.", w.Count())
	return nil
}

// ---- get

type ctGetOptions struct {
	env     *cli.Env
	tuple   ctnetlink.Tuple
	zone    uint16
	hasZone bool
	quiet   bool
}

func newCmdCtGet(env *cli.Env, runF func(*ctGetOptions) error) *cobra.Command {
	opts := &ctGetOptions{env: env}
	var zone string
	cmd := &cobra.Command{
		Use:   "get PROTO SRC DST [SPORT DPORT] | get proto=P src=A dst=B [sport=N dport=N]",
		Short: "Show the conntrack with this original tuple",
		Example: `  gonfct ct get tcp 10.0.0.1 10.0.0.2 40000 21
  gonfct ct get proto=udp src=fd00::1 dst=fd00::2 sport=5000 dport=69 -o json`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var err error
			if opts.tuple, err = ctParseTupleArgs(args, "tuple"); err != nil {
				return err
			}
			if zone != "" {
				if opts.zone, err = parseZone(zone); err != nil {
					return err
				}
				opts.hasZone = true
			}
			if runF != nil {
				return runF(opts)
			}
			return ctGetRun(opts)
		},
	}
	cmd.Flags().StringVar(&zone, "zone", "", "the conntrack's zone")
	ctQuietFlag(cmd, &opts.quiet)
	return cmd
}

func ctGetRun(opts *ctGetOptions) error {
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
	ctSummary(opts.env, opts.quiet, "1 flow entries have been shown.")
	return nil
}

// ---- add

type ctAddOptions struct {
	env   *cli.Env
	flow  ctflow.Flow
	quiet bool
}

// ctParseHex reads private data: hex digits, optionally separated by ':' or blanks.
func ctParseHex(flag, s string) ([]byte, error) {
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

// ctConnlabelConf names label bits, as iptables' connlabel match reads them.
const ctConnlabelConf = "/etc/xtables/connlabel.conf"

// ctParseLabels reads label bits: numbers 0-127 or names from connlabel.conf.
func ctParseLabels(vals []string) ([ctflow.LabelsLen]byte, error) {
	var bits [ctflow.LabelsLen]byte
	var names map[string]int
	for _, v := range vals {
		for _, w := range strings.Split(v, ",") {
			w = strings.TrimSpace(w)
			if w == "" {
				continue
			}
			n, err := strconv.Atoi(w)
			if err != nil {
				if names == nil {
					names = ctReadConnlabels()
				}
				var ok bool
				if n, ok = names[w]; !ok {
					return bits, cli.Usagef("--label %q: want a bit number 0-127 or a name from %s", w, ctConnlabelConf)
				}
			}
			if n < 0 || n >= ctflow.LabelsLen*8 {
				return bits, cli.Usagef("--label %d: want a bit number 0-127", n)
			}
			bits[n/8] |= 1 << (n % 8)
		}
	}
	return bits, nil
}

func ctReadConnlabels() map[string]int {
	m := map[string]int{}
	b, err := os.ReadFile(ctConnlabelConf)
	if err != nil {
		return m
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && !strings.HasPrefix(f[0], "#") {
			if n, err := strconv.Atoi(f[0]); err == nil {
				m[f[1]] = n
			}
		}
	}
	return m
}

// ctFlowSettings are the flags add and update share.
type ctFlowSettings struct {
	timeout, mark, zone, status, state, helperInfo string
	labels                                         []string
}

func ctAddFlowSettingFlags(fs *pflag.FlagSet, s *ctFlowSettings) {
	fs.StringVarP(&s.timeout, "timeout", "t", "", "seconds until the conntrack expires")
	fs.StringVarP(&s.mark, "mark", "m", "", "mark (update: MARK/MASK changes only the bits in MASK)")
	fs.StringVar(&s.status, "status", "", "status bits to set: seen-reply,assured,fixed-timeout")
	fs.StringVar(&s.state, "state", "", "protocol state: ESTABLISHED, SYN_SENT, ... (TCP)")
	fs.StringVar(&s.helperInfo, "helper-info", "", "the helper's private data, hex (user-space helpers keep up to 32 bytes)")
	fs.StringSliceVar(&s.labels, "label", nil, "label bits: numbers 0-127 or names from "+ctConnlabelConf+" (repeat or comma-separate)")
}

// apply checks the settings and puts them in f; markMask is for update.
func (s *ctFlowSettings) apply(f *ctflow.Flow, update bool) (markMask uint32, err error) {
	if s.timeout != "" {
		t, err := strconv.ParseUint(s.timeout, 10, 32)
		if err != nil || t == 0 || t > 0x7fffffff/1000 {
			return 0, cli.Usagef("--timeout %q: want seconds, 1 or more", s.timeout)
		}
		f.Timeout, f.Set = uint32(t), f.Set|ctflow.HasTimeout
	}
	if s.mark != "" {
		m, mask, err := ctParseMark(s.mark)
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
	if s.helperInfo != "" {
		b, err := ctParseHex("helper-info", s.helperInfo)
		if err != nil {
			return 0, err
		}
		_ = f.SetHelperInfo(b)
	}
	if len(s.labels) > 0 {
		if f.Labels, err = ctParseLabels(s.labels); err != nil {
			return 0, err
		}
		f.Set |= ctflow.HasLabels
	}
	return markMask, nil
}

func newCmdCtAdd(env *cli.Env, runF func(*ctAddOptions) error) *cobra.Command {
	opts := &ctAddOptions{env: env}
	var (
		s           ctFlowSettings
		reply, zone string
		helper      string
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
(--helper-info) is kept only by user-space helpers, up to 32 bytes. The kernel
drops private data given at creation (it offers it to the helper before
attaching the helper), so gonfct sends it again in an update right after.`,
		Example: `  gonfct ct add tcp 10.0.0.1 10.0.0.2 40000 21 --timeout 3600 --state ESTABLISHED --status assured,seen-reply --helper ftp
  gonfct ct add udp 10.0.0.1 10.0.0.2 5000 69 -t 60 --reply "udp 10.0.0.2 192.0.2.1 69 5000" --mark 7 --zone 3`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f := &opts.flow
			var err error
			if f.Orig, err = ctParseTupleArgs(args, "tuple"); err != nil {
				return err
			}
			f.Family = f.Orig.Family()
			if reply != "" {
				if f.Reply, err = ctParseTupleArgs([]string{reply}, "--reply"); err != nil {
					return err
				}
				if f.Reply.Proto != f.Orig.Proto || f.Reply.Family() != f.Family {
					return cli.Usagef("--reply %q: the reply tuple must have the original's protocol and family", reply)
				}
			} else {
				f.Reply = ctflow.Invert(f.Orig)
			}
			if s.timeout == "" {
				return cli.Usagef("ct add needs --timeout SECONDS (the kernel refuses a conntrack without one)")
			}
			if _, err := s.apply(f, false); err != nil {
				return err
			}
			if zone != "" {
				if f.Zone, err = parseZone(zone); err != nil {
					return err
				}
				f.Set |= ctflow.HasZone
			}
			if helper != "" {
				if err := f.SetHelper(helper); err != nil {
					return cli.Usagef("--helper: %v", err)
				}
			} else if f.Has(ctflow.HasHelperInfo) {
				return cli.Usagef("--helper-info needs --helper NAME: private data belongs to a helper")
			}
			if runF != nil {
				return runF(opts)
			}
			return ctAddRun(opts)
		},
	}
	ctAddFlowSettingFlags(cmd.Flags(), &s)
	cmd.Flags().StringVar(&reply, "reply", "", `reply tuple, "PROTO SRC DST [SPORT DPORT]" (default: the original inverted)`)
	cmd.Flags().StringVar(&zone, "zone", "", "conntrack zone (both directions)")
	cmd.Flags().StringVar(&helper, "helper", "", "helper to attach (only possible at creation)")
	ctQuietFlag(cmd, &opts.quiet)
	return cmd
}

func ctAddRun(opts *ctAddOptions) error {
	c, err := opts.env.Conn()
	if err != nil {
		return err
	}
	defer c.Close()
	cl := ctflow.NewClient(c)
	if err := cl.Create(&opts.flow); err != nil {
		if errors.Is(err, ctflow.ErrLabelsDropped) {
			// Leave nothing half-made: take the label-less conntrack back.
			f := &opts.flow
			if derr := cl.Delete(f.Orig, f.Zone, f.Has(ctflow.HasZone), 0); derr != nil {
				return fmt.Errorf("%w (and removing the conntrack again failed: %v)", err, derr)
			}
			return fmt.Errorf("%w; nothing was added", err)
		}
		return err
	}
	ctSummary(opts.env, opts.quiet, "1 flow entries have been created.")
	return nil
}

// ---- update

type ctUpdateOptions struct {
	env      *cli.Env
	flow     ctflow.Flow // the changes; Orig (and Zone) find the conntrack
	markMask uint32
	quiet    bool
}

func newCmdCtUpdate(env *cli.Env, runF func(*ctUpdateOptions) error) *cobra.Command {
	opts := &ctUpdateOptions{env: env}
	var (
		s            ctFlowSettings
		zone, helper string
	)
	cmd := &cobra.Command{
		Use:   "update PROTO SRC DST [SPORT DPORT] [--timeout S] [--mark M[/MASK]] [--helper-info HEX] [--status ...]",
		Short: "Change a conntrack's timeout, mark, status, state, labels or helper private data",
		Long: `Change an existing conntrack in place. Status bits can only be set, never
cleared. --helper-info hands new private data to the conntrack's existing
helper. The helper itself never changes after creation: --helper NAME is
accepted for the helper the conntrack has (a no-op), and the kernel refuses
any other (EBUSY), or any helper for a conntrack created without one
(EOPNOTSUPP).`,
		Example: `  gonfct ct update tcp 10.0.0.1 10.0.0.2 40000 21 --timeout 600 --mark 0x10/0xf0`,
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f := &opts.flow
			var err error
			if f.Orig, err = ctParseTupleArgs(args, "tuple"); err != nil {
				return err
			}
			f.Family = f.Orig.Family()
			if opts.markMask, err = s.apply(f, true); err != nil {
				return err
			}
			if helper != "" {
				if err := f.SetHelper(helper); err != nil {
					return cli.Usagef("--helper: %v", err)
				}
			}
			if f.Set == 0 {
				return cli.Usagef("ct update needs something to change: --timeout, --mark, --status, --state, --label, --helper or --helper-info")
			}
			if zone != "" {
				if f.Zone, err = parseZone(zone); err != nil {
					return err
				}
				f.Set |= ctflow.HasZone
			}
			if runF != nil {
				return runF(opts)
			}
			return ctUpdateRun(opts)
		},
	}
	ctAddFlowSettingFlags(cmd.Flags(), &s)
	cmd.Flags().StringVar(&zone, "zone", "", "the conntrack's zone")
	cmd.Flags().StringVar(&helper, "helper", "", "the conntrack's helper (it cannot change; default with --helper-info: the current one)")
	ctQuietFlag(cmd, &opts.quiet)
	return cmd
}

func ctUpdateRun(opts *ctUpdateOptions) error {
	c, err := opts.env.Conn()
	if err != nil {
		return err
	}
	defer c.Close()
	cl := ctflow.NewClient(c)
	u := opts.flow
	needHelper := u.Has(ctflow.HasHelperInfo) && !u.Has(ctflow.HasHelper)
	if u.Has(ctflow.HasStatus) || needHelper {
		// The kernel wants the whole status (it refuses to clear bits) and
		// the helper's name with its private data: read them first.
		var cur ctflow.Flow
		if err := cl.Get(u.Orig, u.Zone, u.Has(ctflow.HasZone), &cur); err != nil {
			return err
		}
		if u.Has(ctflow.HasStatus) {
			u.Status |= cur.Status
		}
		if needHelper {
			if !cur.Has(ctflow.HasHelper) {
				return ctnl.Errorf("update conntrack "+u.Orig.String(), unix.EOPNOTSUPP,
					"this conntrack has no helper, so it keeps no private data: the kernel sets a helper only at creation (delete it and add it again with --helper)")
			}
			_ = u.SetHelper(cur.Helper())
		}
	}
	if err := cl.Update(&u, opts.markMask); err != nil {
		return err
	}
	ctSummary(opts.env, opts.quiet, "1 flow entries have been updated.")
	return nil
}

// ---- delete and flush

type ctDeleteOptions struct {
	env      *cli.Env
	tuple    ctnetlink.Tuple
	hasTuple bool
	zone     uint16
	hasZone  bool
	filter   ctflow.Filter
	quiet    bool
}

func newCmdCtDelete(env *cli.Env, runF func(*ctDeleteOptions) error) *cobra.Command {
	opts := &ctDeleteOptions{env: env}
	var ff ctFilterFlags
	cmd := &cobra.Command{
		Use:   "delete PROTO SRC DST [SPORT DPORT] | delete [filters]",
		Short: "Delete the conntrack with this tuple, or every conntrack that passes the filters",
		Example: `  gonfct ct delete tcp 10.0.0.1 10.0.0.2 40000 21
  gonfct ct delete --helper ftp --src 10.0.0.0/24`,
		RunE: func(cmd *cobra.Command, args []string) error {
			var err error
			if len(args) > 0 {
				if opts.tuple, err = ctParseTupleArgs(args, "tuple"); err != nil {
					return err
				}
				opts.hasTuple = true
				z := ff.zone
				ff.zone = ""
				if ff.any() {
					return cli.Usagef("ct delete takes a tuple or filters, not both")
				}
				if z != "" {
					if opts.zone, err = parseZone(z); err != nil {
						return err
					}
					opts.hasZone = true
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
			return ctDeleteRun(opts)
		},
	}
	addCtFilterFlags(cmd.Flags(), &ff)
	ctQuietFlag(cmd, &opts.quiet)
	return cmd
}

func ctDeleteRun(opts *ctDeleteOptions) error {
	c, err := opts.env.Conn()
	if err != nil {
		return err
	}
	defer c.Close()
	cl := ctflow.NewClient(c)
	if opts.hasTuple {
		if err := cl.Delete(opts.tuple, opts.zone, opts.hasZone, 0); err != nil {
			return err
		}
		ctSummary(opts.env, opts.quiet, "1 flow entries have been deleted.")
		return nil
	}
	return ctDeleteMatching(opts.env, cl, &opts.filter, opts.quiet)
}

func ctDeleteMatching(env *cli.Env, cl *ctflow.Client, f *ctflow.Filter, quiet bool) error {
	c2, err := env.Conn()
	if err != nil {
		return err
	}
	defer c2.Close()
	n, err := cl.DeleteMatching(f, ctflow.NewClient(c2))
	if err != nil {
		return err
	}
	ctSummary(env, quiet, "%d flow entries have been deleted.", n)
	return nil
}

type ctFlushOptions struct {
	env    *cli.Env
	filter ctflow.Filter
	quiet  bool
}

func newCmdCtFlush(env *cli.Env, runF func(*ctFlushOptions) error) *cobra.Command {
	opts := &ctFlushOptions{env: env}
	var ff ctFilterFlags
	cmd := &cobra.Command{
		Use:   "flush [filters]",
		Short: "Delete every conntrack of the namespace (or those that pass the filters)",
		Example: `  gonfct ct flush
  gonfct ct flush --helper ftp
  gonfct --netns fw1 ct flush -p udp -q`,
		Args: cli.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var err error
			if opts.filter, err = ff.filter(); err != nil {
				return err
			}
			if runF != nil {
				return runF(opts)
			}
			return ctFlushRun(opts)
		},
	}
	addCtFilterFlags(cmd.Flags(), &ff)
	ctQuietFlag(cmd, &opts.quiet)
	return cmd
}

func ctFlushRun(opts *ctFlushOptions) error {
	c, err := opts.env.Conn()
	if err != nil {
		return err
	}
	defer c.Close()
	cl := ctflow.NewClient(c)
	if opts.filter.Empty() {
		if err := cl.FlushAll(); err != nil {
			return err
		}
		ctSummary(opts.env, opts.quiet, "connection tracking table has been emptied.")
		return nil
	}
	return ctDeleteMatching(opts.env, cl, &opts.filter, opts.quiet)
}

// ---- watch

type ctWatchOptions struct {
	env      *cli.Env
	events   []ctflow.Event
	filter   ctflow.Filter
	count    int
	timeout  time.Duration
	buffer   int
	noResync bool
}

func ctParseEvents(s string) ([]ctflow.Event, error) {
	var evs []ctflow.Event
	for _, w := range strings.Split(s, ",") {
		switch strings.ToLower(strings.TrimSpace(w)) {
		case "new":
			evs = append(evs, ctflow.EventNew)
		case "update", "updates":
			evs = append(evs, ctflow.EventUpdate)
		case "destroy":
			evs = append(evs, ctflow.EventDestroy)
		case "all":
			evs = append(evs, ctflow.EventNew, ctflow.EventUpdate, ctflow.EventDestroy)
		case "":
		default:
			return nil, cli.Usagef("-e %q: want new, update, destroy or all (comma-separated)", w)
		}
	}
	return evs, nil
}

func newCmdCtWatch(env *cli.Env, runF func(*ctWatchOptions) error) *cobra.Command {
	opts := &ctWatchOptions{env: env}
	var (
		ff     ctFilterFlags
		events string
	)
	cmd := &cobra.Command{
		Use:   "watch [-e new,update,destroy] [filters]",
		Short: "Print conntrack events as they happen (conntrack -E's format with -o text)",
		Example: `  gonfct ct watch
  gonfct ct watch -e new,destroy --helper ftp -o json
  gonfct ct watch -p tcp --dport 21 --count 1 --timeout 30s`,
		Long: `Print conntrack events until interrupted (or --count, --timeout).

When the socket buffer overflows, the kernel drops events: watch says how many
on stderr (exactly, from the socket's drop counter), then dumps the table and
prints every entry as a [RESYNC] event, so a consumer holds the full current
state again, and goes on.`,
		Args: cli.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var err error
			if opts.events, err = ctParseEvents(events); err != nil {
				return err
			}
			if opts.filter, err = ff.filter(); err != nil {
				return err
			}
			if opts.count < 0 || opts.timeout < 0 || opts.buffer < 0 {
				return cli.Usagef("--count, --timeout and --buffer-size cannot be negative")
			}
			if runF != nil {
				return runF(opts)
			}
			return ctWatchRun(opts)
		},
	}
	cmd.Flags().StringVarP(&events, "event", "e", "all", "events to show: new, update, destroy (comma-separated)")
	cmd.Flags().IntVarP(&opts.count, "count", "c", 0, "stop after this many events (0: no limit)")
	cmd.Flags().DurationVar(&opts.timeout, "timeout", 0, "stop after this long (e.g. 30s; 0: no limit)")
	cmd.Flags().IntVarP(&opts.buffer, "buffer-size", "b", 32<<20, "socket receive buffer in bytes (SO_RCVBUFFORCE; a limit, not memory taken up front)")
	cmd.Flags().BoolVar(&opts.noResync, "no-resync", false, "after lost events, only report the loss (no dump)")
	addCtFilterFlags(cmd.Flags(), &ff)
	return cmd
}

// ctEventRecord is one event for the output writer.
type ctEventRecord struct {
	ev ctflow.Event
	f  *ctflow.Flow
}

func (r ctEventRecord) AppendText(b []byte) []byte { return r.f.AppendEvent(b, r.ev) }
func (r ctEventRecord) Row() []string {
	return append([]string{strings.ToUpper(r.ev.String())}, r.f.Row()...)
}
func (r ctEventRecord) MarshalJSON() ([]byte, error) {
	obj := r.f.AppendJSON(nil)
	b := append(make([]byte, 0, len(obj)+32), `{"event":"`...)
	b = append(b, r.ev.String()...)
	b = append(b, `",`...)
	return append(b, obj[1:]...), nil
}

func ctWatchRun(opts *ctWatchOptions) error {
	env := opts.env
	w, err := env.Writer(output.Stream, append([]string{"EVENT"}, ctflow.Columns...))
	if err != nil {
		return err
	}
	c, err := env.Conn()
	if err != nil {
		return err
	}
	defer c.Close()
	if opts.buffer > 0 {
		granted, forced, err := c.SetReceiveBuffer(opts.buffer)
		if err != nil {
			return err
		}
		if !forced {
			fmt.Fprintf(env.Err, "gonfct: receive buffer capped at %d bytes by net.core.rmem_max (SO_RCVBUFFORCE needs CAP_NET_ADMIN)\n", granted/2)
		}
	}
	if err := ctflow.Subscribe(c, opts.events); err != nil {
		return err
	}
	var resync *ctflow.Client
	if !opts.noResync {
		c2, err := env.Conn()
		if err != nil {
			return err
		}
		defer c2.Close()
		resync = ctflow.NewClient(c2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if opts.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, opts.timeout)
		defer cancel()
	}
	n := 0
	err = ctflow.Watch(ctx, c, ctflow.WatchOptions{
		Events: opts.events,
		Filter: &opts.filter,
		Resync: resync,
		OnLoss: func(lost uint32) {
			w.Flush()
			what := "resyncing from a dump"
			if resync == nil {
				what = "not resyncing (--no-resync)"
			}
			fmt.Fprintf(env.Err, "gonfct: lost %d conntrack events (socket receive buffer full; raise --buffer-size); %s\n", lost, what)
		},
		OnEvent: func(ev ctflow.Event, f *ctflow.Flow) error {
			if err := w.Write(ctEventRecord{ev, f}); err != nil {
				return err
			}
			if err := w.Flush(); err != nil {
				return err
			}
			n++
			if opts.count > 0 && n >= opts.count && ev != ctflow.EventResync {
				return ctflow.ErrStop
			}
			return nil
		},
	})
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	return err
}

// ---- save and restore

type ctSaveOptions struct {
	env    *cli.Env
	filter ctflow.Filter
	file   string
	quiet  bool
}

func newCmdCtSave(env *cli.Env, runF func(*ctSaveOptions) error) *cobra.Command {
	opts := &ctSaveOptions{env: env}
	var ff ctFilterFlags
	cmd := &cobra.Command{
		Use:   "save [filters] [> state.json]",
		Short: "Write conntracks (with helper name and private data) and their expectations as versioned JSON",
		Example: `  gonfct ct save > state.json
  gonfct ct save -q --file /run/gonfct/state.json      # replaced atomically
  gonfct ct save --helper ftp | jq '.conntracks | length'`,
		Long: `Write the conntrack table (or the part that passes the filters) and the
expectations of the namespace to stdout (or --file) in the save format of
docs/json.md: {"version":1,"conntracks":[...],"expectations":[...]}.
Conntracks are streamed as they are dumped, so memory stays flat.`,
		Args: cli.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var err error
			if opts.filter, err = ff.filter(); err != nil {
				return err
			}
			if runF != nil {
				return runF(opts)
			}
			return ctSaveRun(opts)
		},
	}
	addCtFilterFlags(cmd.Flags(), &ff)
	cmd.Flags().StringVar(&opts.file, "file", "", "write here instead of stdout (replaced atomically)")
	ctQuietFlag(cmd, &opts.quiet)
	return cmd
}

func ctSaveRun(opts *ctSaveOptions) error {
	c, err := opts.env.Conn()
	if err != nil {
		return err
	}
	defer c.Close()
	out := opts.env.Out
	var tmp *os.File
	if opts.file != "" {
		tmp, err = os.CreateTemp(ctDirOf(opts.file), ".gonfct-save-*")
		if err != nil {
			return fmt.Errorf("save to %s: %w", opts.file, err)
		}
		defer os.Remove(tmp.Name())
		defer tmp.Close()
		out = tmp
	}
	// Expectations are read after the conntracks, through a second socket.
	ce, err := opts.env.Conn()
	if err != nil {
		return err
	}
	defer ce.Close()
	nf, ne, err := ctflow.Save(out, ctflow.NewClient(c), &opts.filter, ce, time.Now())
	if err != nil {
		return err
	}
	if tmp != nil {
		if err := tmp.Close(); err != nil {
			return err
		}
		if err := os.Rename(tmp.Name(), opts.file); err != nil {
			return fmt.Errorf("save to %s: %w", opts.file, err)
		}
	}
	ctSummary(opts.env, opts.quiet, "%d flow entries and %d expectations have been saved.", nf, ne)
	return nil
}

func ctDirOf(path string) string {
	if i := strings.LastIndexByte(path, '/'); i >= 0 {
		return path[:i+1]
	}
	return "."
}

type ctRestoreOptions struct {
	env     *cli.Env
	file    string
	dryRun  bool
	cont    bool
	replace bool
	verbose bool
}

func newCmdCtRestore(env *cli.Env, runF func(*ctRestoreOptions) error) *cobra.Command {
	opts := &ctRestoreOptions{env: env}
	cmd := &cobra.Command{
		Use:   "restore [FILE] [< state.json]",
		Short: "Restore a save file: conntracks (masters first), then expectations; idempotent",
		Long: `Restore a 'gonfct ct save' file (from FILE or stdin) into this namespace.

The whole file is checked first: corrupt JSON is reported with its line and
column, a bad entry with its index, and nothing is applied unless --continue
(which skips bad entries). Then conntracks without a master are created first,
expected conntracks next, expectations last. An entry that exists already is
updated in place (timeout, mark, status, state, labels, helper private data),
so restoring twice changes nothing. Single failures do not stop the restore;
the ctSummary on stderr lists what was restored, updated and skipped, with
reasons, and the exit status is 1 if anything was skipped.`,
		Example: `  gonfct --netns standby ct restore < state.json
  gonfct ct restore --dry-run state.json`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				opts.file = args[0]
			}
			if runF != nil {
				return runF(opts)
			}
			return ctRestoreRun(opts)
		},
	}
	cmd.Flags().BoolVarP(&opts.dryRun, "dry-run", "n", false, "print what would be done; change nothing")
	cmd.Flags().BoolVar(&opts.cont, "continue", false, "skip invalid entries instead of refusing the whole file")
	cmd.Flags().BoolVar(&opts.replace, "replace", false, "delete and re-create a conntrack whose helper differs from the saved one")
	cmd.Flags().BoolVarP(&opts.verbose, "verbose", "v", false, "print each action")
	return cmd
}

func ctRestoreRun(opts *ctRestoreOptions) error {
	env := opts.env
	var (
		data []byte
		err  error
	)
	if opts.file != "" {
		data, err = os.ReadFile(opts.file)
	} else {
		if f, ok := env.In.(*os.File); ok {
			if _, terr := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS); terr == nil {
				return cli.Usagef("ct restore reads a save file: give FILE or redirect one to stdin (gonfct ct restore < state.json)")
			}
		}
		data, err = io.ReadAll(env.In)
	}
	if err != nil {
		return fmt.Errorf("read save file: %w", err)
	}
	_, entries, exps, err := ctflow.ParseSaveFile(data)
	if err != nil {
		return cli.Usage(err)
	}
	// Everything is checked before the first write.
	for _, e := range entries {
		if e.Err != nil && !opts.cont {
			return cli.Usagef("save file conntracks[%d] (line %d): %v (nothing was restored; --continue skips bad entries)", e.Index, e.Line, e.Err)
		}
	}
	for _, e := range exps {
		if e.Err != nil && !opts.cont {
			return cli.Usagef("save file expectations[%d]: %v (nothing was restored; --continue skips bad entries)", e.Index, e.Err)
		}
	}
	c, err := env.Conn()
	if err != nil {
		return err
	}
	defer c.Close()
	verb := ""
	if opts.dryRun {
		verb = "would "
	}
	ropts := ctflow.RestoreOptions{DryRun: opts.dryRun, Replace: opts.replace}
	if opts.dryRun || opts.verbose {
		ropts.Plan = func(action string, f *ctflow.Flow) {
			fmt.Fprintf(env.Out, "%s%s %s", verb, action, f.AppendText(nil))
		}
		ropts.PlanExpect = func(e *expect.Expectation) {
			fmt.Fprintf(env.Out, "%srestore expectation %s\n", verb, e.AppendText(nil))
		}
	}
	report := ctflow.Restore(ctflow.NewClient(c), entries, exps, ropts)
	if opts.dryRun {
		fmt.Fprintf(env.Err, "gonfct: dry run: would restore %d, would update %d, would skip %d\n", report.Restored, report.Updated, report.Skipped)
	} else {
		fmt.Fprintf(env.Err, "gonfct: restored %d, updated %d, skipped %d\n", report.Restored, report.Updated, report.Skipped)
	}
	for _, s := range report.Skips {
		fmt.Fprintf(env.Err, "gonfct: skipped %s: %s\n", s.What, s.Reason)
	}
	for _, w := range report.Warnings {
		fmt.Fprintf(env.Err, "gonfct: warning: %s: %s\n", w.What, w.Reason)
	}
	if report.Skipped > 0 {
		return &cli.ExitError{Code: cli.ExitRuntime, Err: fmt.Errorf("%d of %d entries were not restored", report.Skipped, len(entries)+len(exps))}
	}
	return nil
}
