// Package ctcli is what the two command groups over ctnetlink's tables,
// ct (conntracks) and expect (expectations), share, so that they take the
// same flags, say the same things and print the same count lines: the
// selection flags, tuple arguments, the watch flags and loop with its loss
// report, the count line and -q, and the frames of their run functions.
package ctcli

import (
	"net/netip"
	"strings"

	"github.com/gonfct/gonfct/internal/cli"
	"github.com/gonfct/gonfct/pkg/ctnetlink"
	"github.com/gonfct/gonfct/pkg/ctnl"
	"github.com/spf13/pflag"
	"golang.org/x/sys/unix"
)

// FilterFlags are the selection flags both groups take, as typed: the
// family, the protocol, the (original or expected) connection's addresses
// and ports, the zone and the helper.
type FilterFlags struct {
	Family, Proto, Src, Dst, Sport, Dport, Zone, Helper string
}

// Add registers the flags; what names the connection they select by
// ("original", "expected connection's") and helper says what --helper is.
func (f *FilterFlags) Add(fs *pflag.FlagSet, what, helper string) {
	fs.StringVarP(&f.Family, "family", "f", "", "only this family: ipv4 or ipv6")
	fs.StringVarP(&f.Proto, "proto", "p", "", "only this protocol ("+what+"): tcp, udp, icmp, ... or a number")
	fs.StringVarP(&f.Src, "src", "s", "", what+" source address or prefix")
	fs.StringVarP(&f.Dst, "dst", "d", "", what+" destination address or prefix")
	fs.StringVar(&f.Sport, "sport", "", what+" source port")
	fs.StringVar(&f.Dport, "dport", "", what+" destination port")
	fs.StringVarP(&f.Zone, "zone", "w", "", "only this conntrack zone")
	fs.StringVar(&f.Helper, "helper", "", helper)
}

// Any reports whether any of the flags was given.
func (f *FilterFlags) Any() bool { return *f != FilterFlags{} }

// Selection is what FilterFlags select, checked.
type Selection struct {
	Family       uint8
	Proto        uint8
	HasProto     bool
	Src, Dst     netip.Prefix
	Sport, Dport ctnetlink.Port
	Zone         uint16
	HasZone      bool
	Helper       string
	HasHelper    bool // with Helper "": --helper none
}

// Parse checks the flags.
func (f *FilterFlags) Parse() (Selection, error) {
	var (
		s   Selection
		err error
	)
	if f.Family != "" {
		if s.Family, err = ctnl.ParseFamily(f.Family); err != nil {
			return s, cli.Usagef("--family: %v", err)
		}
	}
	if f.Proto != "" {
		if s.Proto, err = ctnl.ParseProto(f.Proto); err != nil {
			return s, cli.Usagef("--proto: %v", err)
		}
		s.HasProto = true
	}
	if s.Src, err = ParsePrefix("src", f.Src); err != nil {
		return s, err
	}
	if s.Dst, err = ParsePrefix("dst", f.Dst); err != nil {
		return s, err
	}
	if s.Sport, err = ParsePort("sport", f.Sport); err != nil {
		return s, err
	}
	if s.Dport, err = ParsePort("dport", f.Dport); err != nil {
		return s, err
	}
	if f.Zone != "" {
		if s.Zone, err = cli.ParseZone(f.Zone); err != nil {
			return s, err
		}
		s.HasZone = true
	}
	if f.Helper != "" {
		s.HasHelper = true
		if f.Helper != "none" {
			s.Helper = f.Helper
		}
	}
	return s, nil
}

// ParsePrefix reads an address or prefix flag ("" is none).
func ParsePrefix(flag, s string) (netip.Prefix, error) {
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

// ParsePort reads a port flag ("" is none).
func ParsePort(flag, s string) (ctnetlink.Port, error) {
	if s == "" {
		return ctnetlink.Port{}, nil
	}
	n, err := ctnetlink.ParsePort(s)
	if err != nil {
		return ctnetlink.Port{}, cli.Usagef("--%s: %v", flag, err)
	}
	return ctnetlink.PortOf(n), nil
}

// CheckFamilies refuses address filters (prefixes[i] given as
// --flags[i]) of another family than --family (family 0: any) or of both
// families, which nothing can match.
func CheckFamilies(family uint8, flags []string, prefixes ...netip.Prefix) error {
	v4, v6 := false, false
	for i, p := range prefixes {
		if !p.IsValid() {
			continue
		}
		flag := flags[i]
		if family != 0 && p.Addr().Is4() != (family == unix.AF_INET) {
			return cli.Usagef("--%s %s is not %s (--family)", flag, p, ctnl.L3Name(family))
		}
		v4, v6 = v4 || p.Addr().Is4(), v6 || !p.Addr().Is4()
	}
	if v4 && v6 {
		return cli.Usagef("the address filters mix IPv4 and IPv6: nothing can match")
	}
	return nil
}

// ParseTuple reads a tuple given as words (arguments) or as one flag
// value; what names it in the error ("tuple", "--master").
func ParseTuple(what string, words ...string) (ctnetlink.Tuple, error) {
	t, err := ctnetlink.ParseTuple(words)
	if err != nil {
		return t, cli.Usagef("%s: %v", what, err)
	}
	return t, nil
}

// ParseKey reads the tuple arguments and --zone of a get or delete.
func ParseKey(args []string, zone string) (ctnetlink.Key, error) {
	var (
		k   ctnetlink.Key
		err error
	)
	if k.Tuple, err = ParseTuple("tuple", args...); err != nil {
		return k, err
	}
	if zone != "" {
		if k.Zone, err = cli.ParseZone(zone); err != nil {
			return k, err
		}
		k.HasZone = true
	}
	return k, nil
}
