package expect

import (
	"net/netip"
	"strconv"

	"github.com/gonfct/gonfct/pkg/ctnl"
	"golang.org/x/sys/unix"
)

// AppendJSON appends the expectation as one JSON object with the stable
// field names documented in docs/json.md ("expect"). It is written by hand
// so that listing a large table does not go through reflection.
func (e *Expectation) AppendJSON(b []byte) []byte {
	b = append(b, `{"family":"`...)
	b = append(b, ctnl.L3Name(e.FamilyOf())...)
	b = append(b, `","proto":"`...)
	b = append(b, ctnl.ProtoName(e.Tuple.Proto)...)
	b = append(b, `","proto_num":`...)
	b = strconv.AppendUint(b, uint64(e.Tuple.Proto), 10)
	b = append(b, `,"timeout":`...)
	b = strconv.AppendUint(b, uint64(e.Timeout), 10)
	b = append(b, `,"id":`...)
	b = strconv.AppendUint(b, uint64(e.ID), 10)
	b = append(b, `,"tuple":`...)
	b = appendJSONTuple(b, &e.Tuple, e.Tuple.Proto, true)
	b = append(b, `,"mask":`...)
	b = appendJSONTuple(b, &e.Mask, e.Tuple.Proto, false)
	b = append(b, `,"master":`...)
	b = appendJSONTuple(b, &e.Master, e.Master.Proto, true)
	b = append(b, `,"flags":[`...)
	for _, n := range flagNames {
		if e.Flags&n.f != 0 {
			if b[len(b)-1] != '[' {
				b = append(b, ',')
			}
			b = append(b, '"')
			b = appendLower(b, n.name)
			b = append(b, '"')
		}
	}
	b = append(b, `],"class":`...)
	b = strconv.AppendUint(b, uint64(e.Class), 10)
	b = append(b, `,"helper":`...)
	b = strconv.AppendQuote(b, e.Helper)
	if e.HasZone {
		b = append(b, `,"zone":`...)
		b = strconv.AppendUint(b, uint64(e.Zone), 10)
	}
	if e.NAT.Set {
		b = append(b, `,"nat":{"dir":"`...)
		b = append(b, NATDirName(e.NAT.Dir)...)
		b = append(b, `","src":"`...)
		b = appendAddr(b, e.NAT.Tuple.Src)
		b = append(b, `","sport":`...)
		b = strconv.AppendUint(b, uint64(e.NAT.Tuple.SrcPort), 10)
		b = append(b, '}')
	}
	if e.Fn != "" {
		b = append(b, `,"expectfn":`...)
		b = strconv.AppendQuote(b, e.Fn)
	}
	return append(b, '}')
}

func appendLower(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		b = append(b, c)
	}
	return b
}

func appendJSONTuple(b []byte, t *ctnl.Tuple, p uint8, withProto bool) []byte {
	b = append(b, '{')
	if withProto {
		b = append(b, `"proto":"`...)
		b = append(b, ctnl.ProtoName(p)...)
		b = append(b, `",`...)
	}
	b = appendJSONAddr(b, `"src":`, t.Src)
	b = appendJSONAddr(b, `,"dst":`, t.Dst)
	switch {
	case ctnl.HasPorts(p) || p == unix.IPPROTO_GRE:
		b = append(b, `,"sport":`...)
		b = strconv.AppendUint(b, uint64(t.SrcPort), 10)
		b = append(b, `,"dport":`...)
		b = strconv.AppendUint(b, uint64(t.DstPort), 10)
	case p == unix.IPPROTO_ICMP || p == unix.IPPROTO_ICMPV6:
		b = append(b, `,"type":`...)
		b = strconv.AppendUint(b, uint64(t.ICMPType), 10)
		b = append(b, `,"code":`...)
		b = strconv.AppendUint(b, uint64(t.ICMPCode), 10)
		b = append(b, `,"icmp_id":`...)
		b = strconv.AppendUint(b, uint64(t.ICMPID), 10)
	}
	return append(b, '}')
}

func appendJSONAddr(b []byte, key string, a netip.Addr) []byte {
	b = append(b, key...)
	b = append(b, '"')
	b = appendAddr(b, a)
	return append(b, '"')
}
