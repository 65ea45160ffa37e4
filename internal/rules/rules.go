// Package rules writes the firewall rules that assign conntrack helpers to
// connections: nft `ct helper` objects with `ct helper set` rules, or
// iptables raw-table `-j CT --helper` rules. It is pure text generation,
// so `gonfct rules` needs no kernel; the VM tests load what it prints.
package rules

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/gonfct/gonfct/pkg/cthelper"
	"github.com/gonfct/gonfct/pkg/ctnl"
	"golang.org/x/sys/unix"
)

// Assign is one helper assigned to one transport protocol's ports.
type Assign struct {
	Helper   string
	Proto    uint8   // IPPROTO_TCP or IPPROTO_UDP
	Families []uint8 // AF_INET and/or AF_INET6 the helper exists for
	Ports    []uint16
}

// Options say which rules to write.
type Options struct {
	Assigns []Assign
	// Family limits the rules to AF_INET or AF_INET6; 0 writes both.
	Family uint8
	// NAT places the nft assignment before destination NAT (see NFT).
	NAT bool
	// Table is the nft table's name.
	Table string
	// Chain, for iptables, is a user chain in the raw table that holds the
	// rules, jumped to from PREROUTING and OUTPUT, so that running the
	// lines again replaces rather than duplicates them. Empty appends to
	// PREROUTING and OUTPUT directly.
	Chain string
}

// DefaultTable is the nft table gonfct's rules live in.
const DefaultTable = "gonfct"

// noRuleProtos are protocols of a built-in helper that no port rule
// assigns: their connections get the helper from an expectation
// (ssdp's TCP event callbacks carry CTA_EXPECT_HELP_NAME).
var noRuleProtos = map[string]uint8{"ssdp": unix.IPPROTO_TCP}

// Parse reads one HELPER argument, NAME[/PROTO][:PORT[,PORT...]], against
// the registry: a built-in helper's protocols and port are its defaults; a
// helper that is not built in needs both PROTO and PORT.
func Parse(reg *cthelper.Registry, arg string) ([]Assign, error) {
	name, portList, hasPorts := strings.Cut(arg, ":")
	name, protoName, hasProto := strings.Cut(name, "/")
	if err := cthelper.ValidateName("helper", name); err != nil {
		return nil, err
	}
	if !ruleName(name, 16) {
		return nil, fmt.Errorf("helper name %q: rules take letters, digits, '-', '_' and '.' only", name)
	}
	var ports []uint16
	if hasPorts {
		for _, s := range strings.Split(portList, ",") {
			p, err := strconv.ParseUint(s, 10, 16)
			if err != nil || p == 0 {
				return nil, fmt.Errorf("bad port %q in %q: want NAME[/PROTO][:PORT[,PORT...]] with ports 1 to 65535", s, arg)
			}
			if !slices.Contains(ports, uint16(p)) {
				ports = append(ports, uint16(p))
			}
		}
	}
	var proto uint8
	if hasProto {
		switch strings.ToLower(protoName) {
		case "tcp":
			proto = unix.IPPROTO_TCP
		case "udp":
			proto = unix.IPPROTO_UDP
		default:
			return nil, fmt.Errorf("bad protocol %q in %q: user-space helpers take tcp or udp", protoName, arg)
		}
	}
	spec, known := reg.Lookup(name)
	if !known {
		if proto == 0 || len(ports) == 0 {
			return nil, fmt.Errorf("%q is not a built-in helper: give its protocol and port as %s/udp:PORT (built in: %s)",
				name, name, strings.Join(reg.Names(), ", "))
		}
		return []Assign{{Helper: name, Proto: proto, Families: []uint8{unix.AF_INET, unix.AF_INET6}, Ports: ports}}, nil
	}
	if proto != 0 && !slices.Contains(spec.Protos, proto) {
		return nil, fmt.Errorf("built-in helper %q does not exist for %s (it takes %s)", name, ctnl.ProtoName(proto), protoList(spec.Protos))
	}
	if len(ports) == 0 {
		if spec.Port == 0 {
			return nil, fmt.Errorf("helper %q has no well-known port: give one as %s:PORT", name, name)
		}
		ports = []uint16{spec.Port}
	}
	var out []Assign
	for _, p := range spec.Protos {
		if proto != 0 && p != proto {
			continue
		}
		if skip, ok := noRuleProtos[name]; ok && skip == p && proto == 0 {
			continue
		}
		out = append(out, Assign{Helper: name, Proto: p, Families: slices.Clone(spec.Families), Ports: ports})
	}
	return out, nil
}

func protoList(ps []uint8) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = ctnl.ProtoName(p)
	}
	return strings.Join(s, " and ")
}

// Validate checks the options before anything is written.
func (o *Options) Validate() error {
	if len(o.Assigns) == 0 {
		return fmt.Errorf("no helpers given")
	}
	if o.Family != 0 && o.Family != unix.AF_INET && o.Family != unix.AF_INET6 {
		return fmt.Errorf("family must be inet or inet6")
	}
	for _, a := range o.Assigns {
		if len(o.families(a)) == 0 {
			return fmt.Errorf("helper %q does not exist for %s", a.Helper, ctnl.FamilyName(o.Family))
		}
	}
	for _, n := range []struct{ what, v string }{{"table", o.Table}, {"chain", o.Chain}} {
		if n.v == "" {
			continue
		}
		if !ruleName(n.v, 28) || strings.Contains(n.v, ".") {
			return fmt.Errorf("bad %s name %q: use up to 28 letters, digits, '-' or '_'", n.what, n.v)
		}
	}
	return nil
}

// ruleName reports whether s is safe as a name in both nft and iptables
// syntax without quoting.
func ruleName(s string, max int) bool {
	return s != "" && len(s) <= max && strings.IndexFunc(s, func(r rune) bool {
		return !(r == '-' || r == '_' || r == '.' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z')
	}) < 0
}

// families is which of the chosen families a helper gets rules for.
func (o *Options) families(a Assign) []uint8 {
	var fs []uint8
	for _, f := range []uint8{unix.AF_INET, unix.AF_INET6} {
		if (o.Family == 0 || o.Family == f) && slices.Contains(a.Families, f) {
			fs = append(fs, f)
		}
	}
	return fs
}

// ObjectName is the nft ct helper object's name for an assignment.
func ObjectName(a Assign) string { return a.Helper + "-" + ctnl.ProtoName(a.Proto) }

func header(w io.Writer, o *Options, tool string) {
	fmt.Fprintf(w, "# Written by `gonfct rules`: assigns user-space conntrack helpers (%s).\n", tool)
	fmt.Fprintln(w, "# The helpers must exist in the kernel before these rules load: `gonfct run`")
	fmt.Fprintln(w, "# adds them, or add them yourself. Add every one: for a family left out the")
	fmt.Fprintln(w, "# kernel looks for, and may load, its own helper module of that name.")
	for _, a := range o.Assigns {
		for _, f := range o.families(a) {
			fmt.Fprintf(w, "#   gonfct helper add %s %s %s\n", a.Helper, ctnl.FamilyName(f), ctnl.ProtoName(a.Proto))
		}
	}
	fmt.Fprintln(w, "# Your filter rules must accept the helped connections: ct state related.")
}

// NFT writes an nft script for `nft -f`. It replaces the whole table, so
// loading it again is safe. The rules sit in prerouting (forwarded and
// incoming connections) and output (the firewall's own): `ct helper set`
// acts only on a conntrack not yet confirmed, so it must run after the
// conntrack lookup (priority -200). Without NAT it runs at filter priority
// (0). With NAT it runs at -150, before destination NAT (-100): the kernel
// adds TCP sequence adjustment to a connection only if the connection
// already has its helper when its NAT is set up, and without it a helper
// that rewrites a payload to another length breaks the TCP stream.
func NFT(w io.Writer, o Options) error {
	if err := o.Validate(); err != nil {
		return err
	}
	table := o.Table
	if table == "" {
		table = DefaultTable
	}
	tfam := map[uint8]string{0: "inet", unix.AF_INET: "ip", unix.AF_INET6: "ip6"}[o.Family]
	prio, why := 0, "filter priority: after the conntrack lookup (-200)"
	if o.NAT {
		prio, why = -150, "after the conntrack lookup (-200), before dstnat (-100)"
	}
	header(w, &o, "nft")
	fmt.Fprintf(w, "table %s %s\ndelete table %s %s\n", tfam, table, tfam, table)
	fmt.Fprintf(w, "table %s %s {\n", tfam, table)
	for _, a := range o.Assigns {
		fs := o.families(a)
		l3 := "inet"
		if len(fs) == 1 {
			l3 = map[uint8]string{unix.AF_INET: "ip", unix.AF_INET6: "ip6"}[fs[0]]
		}
		fmt.Fprintf(w, "\tct helper %s {\n\t\ttype %q protocol %s\n\t\tl3proto %s\n\t}\n",
			ObjectName(a), a.Helper, ctnl.ProtoName(a.Proto), l3)
	}
	for _, hook := range []string{"prerouting", "output"} {
		fmt.Fprintf(w, "\tchain %s {\n\t\ttype filter hook %s priority %d; policy accept; # %s\n", hook, hook, prio, why)
		for _, a := range o.Assigns {
			match := ""
			if fs := o.families(a); len(fs) == 1 && o.Family == 0 {
				match = "meta nfproto " + map[uint8]string{unix.AF_INET: "ipv4", unix.AF_INET6: "ipv6"}[fs[0]] + " "
			}
			fmt.Fprintf(w, "\t\t%s%s dport %s ct helper set %q\n", match, ctnl.ProtoName(a.Proto), nftPorts(a.Ports), ObjectName(a))
		}
		fmt.Fprintln(w, "\t}")
	}
	fmt.Fprintln(w, "}")
	return nil
}

func nftPorts(ps []uint16) string {
	if len(ps) == 1 {
		return strconv.Itoa(int(ps[0]))
	}
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = strconv.Itoa(int(p))
	}
	return "{ " + strings.Join(s, ", ") + " }"
}

// IPTables writes iptables and ip6tables command lines for a shell. The CT
// target in the raw table attaches the helper through a conntrack template
// when the conntrack is made, before any NAT, so the same lines serve with
// and without NAT.
func IPTables(w io.Writer, o Options) error {
	if err := o.Validate(); err != nil {
		return err
	}
	header(w, &o, "iptables")
	if o.NAT {
		fmt.Fprintln(w, "# NAT: the raw table's CT target attaches the helper before NAT, nothing more is needed.")
	}
	for _, f := range []uint8{unix.AF_INET, unix.AF_INET6} {
		cmd := map[uint8]string{unix.AF_INET: "iptables", unix.AF_INET6: "ip6tables"}[f]
		var lines []string
		for _, a := range o.Assigns {
			if !slices.Contains(o.families(a), f) {
				continue
			}
			match := "-p " + ctnl.ProtoName(a.Proto) + " --dport " + strconv.Itoa(int(a.Ports[0]))
			if len(a.Ports) > 1 {
				s := make([]string, len(a.Ports))
				for i, p := range a.Ports {
					s[i] = strconv.Itoa(int(p))
				}
				match = "-p " + ctnl.ProtoName(a.Proto) + " -m multiport --dports " + strings.Join(s, ",")
			}
			lines = append(lines, match+" -j CT --helper "+a.Helper)
		}
		if len(lines) == 0 {
			continue
		}
		if o.Chain == "" {
			for _, chain := range []string{"PREROUTING", "OUTPUT"} {
				for _, l := range lines {
					fmt.Fprintf(w, "%s -t raw -A %s %s\n", cmd, chain, l)
				}
			}
			continue
		}
		fmt.Fprintf(w, "%s -t raw -N %s 2>/dev/null || %s -t raw -F %s\n", cmd, o.Chain, cmd, o.Chain)
		for _, l := range lines {
			fmt.Fprintf(w, "%s -t raw -A %s %s\n", cmd, o.Chain, l)
		}
		for _, chain := range []string{"PREROUTING", "OUTPUT"} {
			fmt.Fprintf(w, "%s -t raw -C %s -j %s 2>/dev/null || %s -t raw -A %s -j %s\n", cmd, chain, o.Chain, cmd, chain, o.Chain)
		}
	}
	return nil
}
