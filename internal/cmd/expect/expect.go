// Package expect is the `gonfct expect` command group: the expectation table
// (ctnetlink), with conntrack's command letters as well as words.
package expect

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/gonfct/gonfct/internal/cli"
	"github.com/gonfct/gonfct/internal/output"
	"github.com/gonfct/gonfct/pkg/ctnl"
	ctexpect "github.com/gonfct/gonfct/pkg/expect"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

const longHelp = `Expectations tell the kernel to let a future connection in as RELATED
to a master connection (an FTP data channel to its control channel). They
live in ctnetlink, one table per network namespace, like conntrack -L expect.

What the kernel does, and where people trip:
  - the master conntrack must carry a helper; without one, add fails with
    EOPNOTSUPP (inject one with ` + "`gonfct ct add --helper`" + `);
  - a new expectation's timeout comes from the master helper's policy for
    its class (ftp 300 s, sip 180 s), not from the request;
  - an expected tuple that clashes with another master's expectation
    gives EBUSY; above the helper's limit for a class (ftp: 1) the oldest
    expectation of that class is evicted;
  - helper= in listings is the master's helper; --helper on add names the
    helper for the expected connection; --class is checked against the
    helper's class count (EINVAL above it);
  - listings cover IPv4 and IPv6 (conntrack -L expect shows IPv4 unless
    given -f ipv6); dumps carry no zone, so --zone looks up the masters.`

func NewCmdExpect(env *cli.Env) *cobra.Command {
	cmds := map[string]*cobra.Command{
		"-L": NewCmdList(env, nil),
		"-G": NewCmdGet(env, nil),
		"-I": NewCmdAdd(env, nil),
		"-D": NewCmdDelete(env, nil),
		"-F": NewCmdFlush(env, nil),
		"-E": NewCmdWatch(env, nil),
		"-C": NewCmdCount(env, nil),
		"-S": NewCmdStats(env, nil),
	}
	g := cli.NewGroup("expect", "List, get, add, delete, flush and watch conntrack expectations")
	g.Example = `  gonfct expect list -o table
  gonfct expect watch --helper ftp
  gonfct expect flush --helper ftp`
	for _, k := range []string{"-L", "-G", "-I", "-D", "-F", "-E", "-C", "-S"} {
		g.AddCommand(cmds[k])
	}
	g.Long = longHelp + "\n\nconntrack's command letters work too: `gonfct expect -E [watch flags]` is\n`gonfct expect watch`, and -L, -G, -I, -D, -F, -C, -S are list, get, add,\ndelete, flush, count, stats."
	// conntrack's command letters look like flags to cobra; flags are
	// parsed here by hand so that "expect -E -e new -p tcp" reaches watch
	// whole.
	g.DisableFlagParsing = true
	g.RunE = func(cmd *cobra.Command, args []string) error {
		for i, a := range args {
			if a == "--event" {
				a = "-E"
			}
			if sub, ok := cmds[a]; ok {
				return runSubcommand(sub, append(args[:i:i], args[i+1:]...))
			}
		}
		cmd.DisableFlagParsing = false
		defer func() { cmd.DisableFlagParsing = true }()
		if err := cmd.ParseFlags(args); err != nil {
			return cli.Usage(err)
		}
		if h, _ := cmd.Flags().GetBool("help"); h {
			return cmd.Help()
		}
		return cli.GroupRunE(cmd, cmd.Flags().Args())
	}
	return g
}

// runSubcommand runs cmd with args as if cobra had routed them there.
func runSubcommand(cmd *cobra.Command, args []string) error {
	cmd.InitDefaultHelpFlag()
	if err := cmd.ParseFlags(args); errors.Is(err, pflag.ErrHelp) {
		return cmd.Help()
	} else if err != nil {
		return cli.Usage(err)
	}
	if h, _ := cmd.Flags().GetBool("help"); h {
		return cmd.Help()
	}
	rest := cmd.Flags().Args()
	if err := cmd.ValidateArgs(rest); err != nil {
		return err
	}
	return cmd.RunE(cmd, rest)
}

// filterFlags are the selection flags of list, watch, count, delete and
// flush, as typed; build checks them into an ctexpect.Filter.
type filterFlags struct {
	proto, family, helper, class, zone string
	src, dst, sport, dport             string
	master                             string
	masterSrc, masterDst               string
	masterSport, masterDport           string
}

func (f *filterFlags) add(fs *pflag.FlagSet, withHelper bool) {
	fs.StringVarP(&f.proto, "proto", "p", "", "expected connection's protocol (tcp, udp, ... or a number)")
	fs.StringVarP(&f.family, "family", "f", "", "ipv4 or ipv6")
	if withHelper {
		fs.StringVar(&f.helper, "helper", "", "master's helper name")
	}
	fs.StringVar(&f.class, "class", "", "expectation class (helper policy index)")
	fs.StringVar(&f.zone, "zone", "", "conntrack zone of the master")
	fs.StringVarP(&f.src, "src", "s", "", "expected connection's source address")
	fs.StringVarP(&f.dst, "dst", "d", "", "expected connection's destination address")
	fs.StringVar(&f.sport, "sport", "", "expected connection's source port")
	fs.StringVar(&f.dport, "dport", "", "expected connection's destination port")
	fs.StringVar(&f.master, "master", "", `master tuple "PROTO SRC DST SPORT DPORT" (the kernel then dumps that master's expectations only)`)
	fs.StringVar(&f.masterSrc, "master-src", "", "master's source address")
	fs.StringVar(&f.masterDst, "master-dst", "", "master's destination address")
	fs.StringVar(&f.masterSport, "master-sport", "", "master's source port")
	fs.StringVar(&f.masterDport, "master-dport", "", "master's destination port")
}

func parsePortFlag(name, s string) (ctexpect.Port, error) {
	if s == "" {
		return ctexpect.Port{}, nil
	}
	p, err := ctnl.ParsePort(s)
	if err != nil {
		return ctexpect.Port{}, cli.Usagef("--%s: %v", name, err)
	}
	return ctexpect.Port{Set: true, Port: p}, nil
}

func parseAddrFlag(name, s string) (netip.Addr, error) {
	if s == "" {
		return netip.Addr{}, nil
	}
	a, err := ctnl.ParseAddr(s)
	if err != nil {
		return a, cli.Usagef("--%s: %v", name, err)
	}
	return a, nil
}

// build checks the flags and returns the filter.
func (f *filterFlags) build() (ctexpect.Filter, error) {
	var (
		flt ctexpect.Filter
		err error
	)
	if f.proto != "" {
		if flt.Proto, err = ctnl.ParseProto(f.proto); err != nil {
			return flt, cli.Usagef("--proto: %v", err)
		}
	}
	if f.family != "" {
		if flt.Family, err = ctnl.ParseFamily(f.family); err != nil {
			return flt, cli.Usagef("--family: %v", err)
		}
	}
	flt.Helper = f.helper
	if f.class != "" {
		n, err := strconv.ParseUint(f.class, 0, 32)
		if err != nil {
			return flt, cli.Usagef("--class %q: want a number", f.class)
		}
		flt.Class, flt.HasClass = uint32(n), true
	}
	if f.zone != "" {
		if flt.Zone, err = cli.ParseZone(f.zone); err != nil {
			return flt, err
		}
		flt.HasZone = true
	}
	for _, a := range []struct {
		name, val string
		dst       *netip.Addr
	}{{"src", f.src, &flt.Src}, {"dst", f.dst, &flt.Dst}, {"master-src", f.masterSrc, &flt.MasterSrc}, {"master-dst", f.masterDst, &flt.MasterDst}} {
		if *a.dst, err = parseAddrFlag(a.name, a.val); err != nil {
			return flt, err
		}
	}
	for _, p := range []struct {
		name, val string
		dst       *ctexpect.Port
	}{{"sport", f.sport, &flt.SrcPort}, {"dport", f.dport, &flt.DstPort}, {"master-sport", f.masterSport, &flt.MasterSrcPort}, {"master-dport", f.masterDport, &flt.MasterDstPort}} {
		if *p.dst, err = parsePortFlag(p.name, p.val); err != nil {
			return flt, err
		}
	}
	if f.master != "" {
		if f.masterSrc != "" || f.masterDst != "" || f.masterSport != "" || f.masterDport != "" {
			return flt, cli.Usagef("give --master or --master-src/--master-dst/--master-sport/--master-dport, not both")
		}
		m, err := ctnl.ParseTuple(strings.Fields(f.master))
		if err != nil {
			return flt, cli.Usagef("--master: %v", err)
		}
		flt.MasterProto, flt.MasterSrc, flt.MasterDst = m.Proto, m.Src, m.Dst
		if ctnl.HasPorts(m.Proto) {
			flt.MasterSrcPort = ctexpect.Port{Set: true, Port: m.SrcPort}
			flt.MasterDstPort = ctexpect.Port{Set: true, Port: m.DstPort}
		}
	}
	if flt.Family != 0 {
		for _, a := range []netip.Addr{flt.Src, flt.Dst, flt.MasterSrc, flt.MasterDst} {
			if a.IsValid() && familyOf(a) != flt.Family {
				return flt, cli.Usagef("address %s is not %s (--family)", a, ctnl.L3Name(flt.Family))
			}
		}
	}
	return flt, nil
}

func familyOf(a netip.Addr) uint8 { return ctnl.Tuple{Src: a}.Family() }

// record prints an expectation through internal/output.
type record struct {
	e     *ctexpect.Expectation
	event ctexpect.EventType // 0 in listings
	sync  bool               // made up by a resync
}

func (r *record) AppendText(b []byte) []byte {
	if r.event != 0 {
		b = r.e.AppendEventText(b, r.event)
	} else {
		b = r.e.AppendText(b)
	}
	return append(b, '\n')
}

var columns = []string{"TIMEOUT", "PROTO", "EXPECTED", "MASK", "MASTER", "CLASS", "FLAGS", "HELPER"}

func (r *record) Row() []string {
	e := r.e
	row := []string{
		strconv.FormatUint(uint64(e.Timeout), 10),
		ctnl.ProtoName(e.Tuple.Proto),
		endpoints(e.Tuple),
		endpoints(e.Mask),
		ctnl.ProtoName(e.Master.Proto) + " " + endpoints(e.Master),
		strconv.FormatUint(uint64(e.Class), 10),
		e.Flags.String(),
		e.Helper,
	}
	if r.event != 0 {
		row = append([]string{strings.ToUpper(r.event.String())}, row...)
	}
	return row
}

func endpoints(t ctnl.Tuple) string {
	return netip.AddrPortFrom(t.Src, t.SrcPort).String() + " -> " + netip.AddrPortFrom(t.Dst, t.DstPort).String()
}

func (r *record) MarshalJSON() ([]byte, error) {
	obj := r.e.AppendJSON(nil)
	if r.event == 0 {
		return obj, nil
	}
	b := append(make([]byte, 0, len(obj)+32), `{"event":"`...)
	b = append(b, r.event.String()...)
	b = append(b, '"')
	if r.sync {
		b = append(b, `,"resync":true`...)
	}
	b = append(b, ',')
	return append(b, obj[1:]...), nil
}

// ListOptions serve `expect list`.
type ListOptions struct {
	env    *cli.Env
	filter ctexpect.Filter
}

func NewCmdList(env *cli.Env, runF func(*ListOptions) error) *cobra.Command {
	opts := &ListOptions{env: env}
	var ff filterFlags
	cmd := &cobra.Command{
		Use:     "list [filters]",
		Aliases: []string{"ls"},
		Short:   "List expectations (conntrack -L expect), streamed, with filters",
		Example: `  gonfct expect list
  gonfct expect list --helper ftp -o table
  gonfct expect list -p tcp --dport 50000 -o json
  gonfct expect list --master "tcp 192.0.2.1 192.0.2.2 40000 21"`,
		Long: `List the expectation table. -o text prints conntrack -L expect's lines
(and its "N expectations have been shown." on stderr), -o json an array of
objects (docs/json.md), -o table a table. Filters combine with AND; family and
a full --master are applied by the kernel, the rest as the table streams by.`,
		Args: cli.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var err error
			if opts.filter, err = ff.build(); err != nil {
				return err
			}
			if runF != nil {
				return runF(opts)
			}
			return listRun(opts)
		},
	}
	ff.add(cmd.Flags(), true)
	return cmd
}

func listRun(opts *ListOptions) error {
	w, err := opts.env.Writer(output.List, columns)
	if err != nil {
		return err
	}
	c, err := opts.env.Conn()
	if err != nil {
		return err
	}
	defer c.Close()
	rec := &record{}
	err = ctexpect.List(c, opts.filter, func(e *ctexpect.Expectation) error {
		rec.e = e
		return w.Write(rec)
	})
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if w.Format() == output.Text {
		fmt.Fprintf(opts.env.Err, "%d expectations have been shown.\n", w.Count())
	}
	return nil
}

// CountOptions serve `expect count`.
type CountOptions struct {
	env    *cli.Env
	filter ctexpect.Filter
}

type countRecord struct {
	Count int `json:"count"`
}

func (r countRecord) AppendText(b []byte) []byte {
	return append(strconv.AppendInt(b, int64(r.Count), 10), '\n')
}
func (r countRecord) Row() []string { return []string{strconv.Itoa(r.Count)} }

func NewCmdCount(env *cli.Env, runF func(*CountOptions) error) *cobra.Command {
	opts := &CountOptions{env: env}
	var ff filterFlags
	cmd := &cobra.Command{
		Use:   "count [filters]",
		Short: "Count expectations (conntrack -C expect)",
		Example: `  gonfct expect count
  gonfct expect count --helper rpc`,
		Args: cli.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var err error
			if opts.filter, err = ff.build(); err != nil {
				return err
			}
			if runF != nil {
				return runF(opts)
			}
			return countRun(opts)
		},
	}
	ff.add(cmd.Flags(), true)
	return cmd
}

func countRun(opts *CountOptions) error {
	w, err := opts.env.Writer(output.Single, []string{"COUNT"})
	if err != nil {
		return err
	}
	c, err := opts.env.Conn()
	if err != nil {
		return err
	}
	defer c.Close()
	n := 0
	if err := ctexpect.List(c, opts.filter, func(*ctexpect.Expectation) error { n++; return nil }); err != nil {
		return err
	}
	if err := w.Write(countRecord{n}); err != nil {
		return err
	}
	return w.Close()
}

// StatsOptions serve `expect stats`.
type StatsOptions struct{ env *cli.Env }

type statsRecord struct{ ctexpect.CPUStats }

func (r statsRecord) AppendText(b []byte) []byte {
	// conntrack -S expect: "cpu=%-4u\texpect_new=%u expect_create=%u expect_delete=%u \n"
	b = append(b, "cpu="...)
	n := len(b)
	b = strconv.AppendUint(b, uint64(r.CPU), 10)
	for len(b)-n < 4 {
		b = append(b, ' ')
	}
	b = append(b, "\texpect_new="...)
	b = strconv.AppendUint(b, uint64(r.New), 10)
	b = append(b, " expect_create="...)
	b = strconv.AppendUint(b, uint64(r.Create), 10)
	b = append(b, " expect_delete="...)
	b = strconv.AppendUint(b, uint64(r.Delete), 10)
	return append(b, " \n"...)
}

func (r statsRecord) Row() []string {
	return []string{strconv.Itoa(int(r.CPU)), strconv.FormatUint(uint64(r.New), 10),
		strconv.FormatUint(uint64(r.Create), 10), strconv.FormatUint(uint64(r.Delete), 10)}
}

func NewCmdStats(env *cli.Env, runF func(*StatsOptions) error) *cobra.Command {
	opts := &StatsOptions{env: env}
	return &cobra.Command{
		Use:   "stats",
		Short: "Per-CPU expectation counters (conntrack -S expect)",
		Example: `  gonfct expect stats
  gonfct expect stats -o json`,
		Long: `Per-CPU expectation counters of the namespace: expect_new (expectations
matched by a new connection), expect_create (created), expect_delete
(deleted or expired).`,
		Args: cli.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(opts)
			}
			return statsRun(opts)
		},
	}
}

func statsRun(opts *StatsOptions) error {
	w, err := opts.env.Writer(output.List, []string{"CPU", "EXPECT_NEW", "EXPECT_CREATE", "EXPECT_DELETE"})
	if err != nil {
		return err
	}
	c, err := opts.env.Conn()
	if err != nil {
		return err
	}
	defer c.Close()
	err = ctexpect.Stats(c, func(st ctexpect.CPUStats) error { return w.Write(statsRecord{st}) })
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	return err
}

// GetOptions serve `expect get`.
type GetOptions struct {
	env     *cli.Env
	tuple   ctnl.Tuple
	zone    uint16
	hasZone bool
	id      uint32
}

func NewCmdGet(env *cli.Env, runF func(*GetOptions) error) *cobra.Command {
	opts := &GetOptions{env: env}
	var zone, id string
	cmd := &cobra.Command{
		Use:   "get PROTO SRC DST [SPORT DPORT]",
		Short: "Show the expectation of one expected tuple (conntrack -G expect)",
		Example: `  gonfct expect get tcp 192.0.2.2 192.0.2.1 0 50000
  gonfct expect get tcp 2001:db8::2 2001:db8::1 0 50000 -o json`,
		Long: `Show the expectation whose expected connection is the given tuple, in
either form: "tcp 10.0.0.2 10.0.0.1 0 50000" or
"proto=tcp src=10.0.0.2 dst=10.0.0.1 sport=0 dport=50000".`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := parseKey(args, zone, id, &opts.tuple, &opts.zone, &opts.hasZone, &opts.id); err != nil {
				return err
			}
			if runF != nil {
				return runF(opts)
			}
			return getRun(opts)
		},
	}
	cmd.Flags().StringVar(&zone, "zone", "", "conntrack zone of the master")
	cmd.Flags().StringVar(&id, "id", "", "only if the expectation has this ID")
	return cmd
}

func parseID(s string) (uint32, error) {
	n, err := strconv.ParseUint(s, 0, 32)
	if err != nil || n == 0 {
		return 0, cli.Usagef("--id %q: want an expectation ID as `gonfct expect list -o json` shows it", s)
	}
	return uint32(n), nil
}

func parseKey(args []string, zone, id string, t *ctnl.Tuple, z *uint16, hasZone *bool, idp *uint32) error {
	var err error
	if *t, err = ctnl.ParseTuple(args); err != nil {
		return cli.Usage(err)
	}
	if zone != "" {
		if *z, err = cli.ParseZone(zone); err != nil {
			return err
		}
		*hasZone = true
	}
	if id != "" {
		if *idp, err = parseID(id); err != nil {
			return err
		}
	}
	return nil
}

func getRun(opts *GetOptions) error {
	w, err := opts.env.Writer(output.Single, columns)
	if err != nil {
		return err
	}
	c, err := opts.env.Conn()
	if err != nil {
		return err
	}
	defer c.Close()
	e, err := ctexpect.Get(c, opts.tuple, opts.zone, opts.hasZone, opts.id)
	if err != nil {
		return err
	}
	if err := w.Write(&record{e: &e}); err != nil {
		return err
	}
	return w.Close()
}

// eventTypes reads -e: new,destroy (conntrack's words; all = both).
func eventTypes(s string) (newEv, destroy bool, err error) {
	for _, w := range strings.Split(strings.ToLower(s), ",") {
		switch strings.TrimSpace(w) {
		case "new":
			newEv = true
		case "destroy":
			destroy = true
		case "all", "":
			newEv, destroy = true, true
		case "update", "updates":
			return false, false, cli.Usagef("-e %s: the kernel sends no update events for expectations; want new, destroy or all", w)
		default:
			return false, false, cli.Usagef("-e %q: unknown event type (want new, destroy or all)", w)
		}
	}
	return newEv, destroy, nil
}
