// Package expect is the `gonfct expect` command group: the expectation table
// (ctnetlink), with conntrack's command letters as well as words.
package expect

import (
	"net/netip"
	"strconv"
	"strings"

	"github.com/gonfct/gonfct/internal/cli"
	"github.com/gonfct/gonfct/internal/cmd/ctcli"
	"github.com/gonfct/gonfct/pkg/ctnetlink"
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
	ctcli.Letters(g, cmds)
	return g
}

// filterFlags are the selection flags of list, watch, count, delete and
// flush, as typed: the ones ct has too, the class and the master.
type filterFlags struct {
	ctcli.FilterFlags
	class, master, masterSrc, masterDst, masterSport, masterDport string
}

func (f *filterFlags) add(fs *pflag.FlagSet) {
	f.FilterFlags.Add(fs, "expected connection's", "master's helper name")
	fs.StringVar(&f.class, "class", "", "expectation class (helper policy index)")
	fs.StringVar(&f.master, "master", "", `master tuple "PROTO SRC DST SPORT DPORT" (the kernel then dumps that master's expectations only)`)
	fs.StringVar(&f.masterSrc, "master-src", "", "master's source address or prefix")
	fs.StringVar(&f.masterDst, "master-dst", "", "master's destination address or prefix")
	fs.StringVar(&f.masterSport, "master-sport", "", "master's source port")
	fs.StringVar(&f.masterDport, "master-dport", "", "master's destination port")
}

func (f *filterFlags) any() bool {
	return f.FilterFlags.Any() || f.class != "" || f.master != "" || f.masterSrc != "" || f.masterDst != "" ||
		f.masterSport != "" || f.masterDport != ""
}

// build checks the flags and returns the filter.
func (f *filterFlags) build() (ctexpect.Filter, error) {
	sel, err := f.FilterFlags.Parse()
	if err != nil {
		return ctexpect.Filter{}, err
	}
	if sel.HasHelper && sel.Helper == "" {
		return ctexpect.Filter{}, cli.Usagef("--helper none: every expectation's master has a helper")
	}
	flt := ctexpect.Filter{Family: sel.Family, Proto: sel.Proto, Src: sel.Src, Dst: sel.Dst, SrcPort: sel.Sport,
		DstPort: sel.Dport, Zone: sel.Zone, HasZone: sel.HasZone, Helper: sel.Helper}
	if f.class != "" {
		n, err := strconv.ParseUint(f.class, 0, 32)
		if err != nil {
			return flt, cli.Usagef("--class %q: want a number", f.class)
		}
		flt.Class, flt.HasClass = uint32(n), true
	}
	if flt.MasterSrc, err = ctcli.ParsePrefix("master-src", f.masterSrc); err != nil {
		return flt, err
	}
	if flt.MasterDst, err = ctcli.ParsePrefix("master-dst", f.masterDst); err != nil {
		return flt, err
	}
	if flt.MasterSrcPort, err = ctcli.ParsePort("master-sport", f.masterSport); err != nil {
		return flt, err
	}
	if flt.MasterDstPort, err = ctcli.ParsePort("master-dport", f.masterDport); err != nil {
		return flt, err
	}
	if f.master != "" {
		if f.masterSrc != "" || f.masterDst != "" || f.masterSport != "" || f.masterDport != "" {
			return flt, cli.Usagef("give --master or --master-src/--master-dst/--master-sport/--master-dport, not both")
		}
		m, err := ctcli.ParseTuple("--master", strings.Fields(f.master)...)
		if err != nil {
			return flt, err
		}
		flt.MasterProto = m.Proto
		flt.MasterSrc, flt.MasterDst = netip.PrefixFrom(m.Src, m.Src.BitLen()), netip.PrefixFrom(m.Dst, m.Dst.BitLen())
		if ctnetlink.Layer4Of(m.Proto) == ctnetlink.Ports {
			flt.MasterSrcPort, flt.MasterDstPort = ctnetlink.PortOf(m.SrcPort), ctnetlink.PortOf(m.DstPort)
		}
	}
	err = ctcli.CheckFamilies(flt.Family, []string{"src", "dst", "master-src", "master-dst"}, flt.Src, flt.Dst, flt.MasterSrc, flt.MasterDst)
	return flt, err
}

// record prints an expectation, or an event, through internal/output.
type record struct {
	e      *ctexpect.Expectation
	event  ctnetlink.EventType // 0 in listings
	resync bool                // made up by a resync
}

func (r *record) AppendText(b []byte) []byte {
	if r.event != 0 {
		return r.e.AppendEvent(b, r.event)
	}
	return r.e.AppendText(b)
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
		row = append([]string{ctcli.EventCell(r.event, r.resync)}, row...)
	}
	return row
}

func endpoints(t ctnetlink.Tuple) string {
	return netip.AddrPortFrom(t.Src, t.SrcPort).String() + " -> " + netip.AddrPortFrom(t.Dst, t.DstPort).String()
}

func (r *record) AppendJSON(b []byte) []byte {
	if r.event == 0 {
		return r.e.AppendJSON(b)
	}
	return ctcli.AppendEventJSON(b, r.event, r.resync, r.e.AppendJSON)
}
