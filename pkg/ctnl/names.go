package ctnl

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// ParseFamily reads the layer-3 family word as nfct and conntrack take it:
// inet/ipv4 → AF_INET, inet6/ipv6 → AF_INET6.
func ParseFamily(s string) (uint8, error) {
	switch strings.ToLower(s) {
	case "inet", "ipv4", "ip", "4":
		return unix.AF_INET, nil
	case "inet6", "ipv6", "ip6", "6":
		return unix.AF_INET6, nil
	}
	return 0, fmt.Errorf("unknown family %q: want inet (ipv4) or inet6 (ipv6)", s)
}

// FamilyName is the nfct word for a family: "inet", "inet6".
func FamilyName(f uint8) string {
	switch f {
	case unix.AF_INET:
		return "inet"
	case unix.AF_INET6:
		return "inet6"
	}
	return strconv.Itoa(int(f))
}

// conntrack(8)'s layer-3 names, as printed in its listing.
func L3Name(f uint8) string {
	switch f {
	case unix.AF_INET:
		return "ipv4"
	case unix.AF_INET6:
		return "ipv6"
	}
	return "unknown"
}

var protoNames = map[uint8]string{
	unix.IPPROTO_ICMP:    "icmp",
	unix.IPPROTO_TCP:     "tcp",
	unix.IPPROTO_UDP:     "udp",
	unix.IPPROTO_DCCP:    "dccp",
	unix.IPPROTO_GRE:     "gre",
	unix.IPPROTO_ICMPV6:  "icmpv6",
	unix.IPPROTO_SCTP:    "sctp",
	unix.IPPROTO_UDPLITE: "udplite",
	unix.IPPROTO_RAW:     "generic",
}

// ProtoName is the protocol's name (tcp, udp, icmpv6, ...), or "unknown"
// as conntrack(8) prints it.
func ProtoName(p uint8) string {
	if n, ok := protoNames[p]; ok {
		return n
	}
	return "unknown"
}

// ParseProto reads a protocol name or number.
func ParseProto(s string) (uint8, error) {
	ls := strings.ToLower(s)
	if ls == "ipv6-icmp" || ls == "icmp6" {
		ls = "icmpv6"
	}
	for n, name := range protoNames {
		if name == ls {
			return n, nil
		}
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err == nil && n <= 255 {
		return uint8(n), nil
	}
	if err == nil || errors.Is(err, strconv.ErrRange) {
		return 0, fmt.Errorf("protocol number %s is out of range: IP protocol numbers go from 0 to 255", s)
	}
	return 0, fmt.Errorf("unknown protocol %q: want tcp, udp, udplite, sctp, dccp, icmp, icmpv6, gre or a protocol number from 0 to 255", s)
}
