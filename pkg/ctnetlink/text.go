package ctnetlink

import (
	"strconv"
	"strings"

	"github.com/gonfct/gonfct/pkg/ctnl"
)

// AppendText appends the tuple as conntrack(8) prints it, each field
// followed by a blank: "src=A dst=B sport=P dport=Q ".
func (t *Tuple) AppendText(b []byte) []byte {
	b = append(b, "src="...)
	b = t.Src.AppendTo(b)
	b = append(b, " dst="...)
	b = t.Dst.AppendTo(b)
	b = append(b, ' ')
	return AppendL4Text(b, t, t.Proto)
}

// AppendL4Text appends the layer-4 fields of t as libnetfilter_conntrack
// prints them for protocol p, each followed by a blank: ports, GRE keys, or
// ICMP type, code and id. (An expectation's mask is printed with the
// expected tuple's protocol, hence p.)
func AppendL4Text(b []byte, t *Tuple, p uint8) []byte {
	switch Layer4Of(p) {
	case Ports:
		b = append(b, "sport="...)
		b = strconv.AppendUint(b, uint64(t.SrcPort), 10)
		b = append(b, " dport="...)
		b = strconv.AppendUint(b, uint64(t.DstPort), 10)
		b = append(b, ' ')
	case GREKeys:
		b = append(b, "srckey=0x"...)
		b = strconv.AppendUint(b, uint64(t.SrcPort), 16)
		b = append(b, " dstkey=0x"...)
		b = strconv.AppendUint(b, uint64(t.DstPort), 16)
		b = append(b, ' ')
	case ICMPFields:
		b = append(b, "type="...)
		b = strconv.AppendUint(b, uint64(t.ICMPType), 10)
		b = append(b, " code="...)
		b = strconv.AppendUint(b, uint64(t.ICMPCode), 10)
		b = append(b, " id="...)
		b = strconv.AppendUint(b, uint64(t.ICMPID), 10)
		b = append(b, ' ')
	}
	return b
}

func (t Tuple) String() string {
	b := t.AppendText(nil)
	return ctnl.ProtoName(t.Proto) + " " + string(b[:len(b)-1])
}

// AppendEventPrefix appends conntrack -E's event column, the type in
// brackets right-aligned in 9 columns and a blank: "    [NEW] ",
// " [UPDATE] ", "[DESTROY] "; with resync, " [RESYNC] " (an entry of the
// table read again after lost events).
func AppendEventPrefix(b []byte, t EventType, resync bool) []byte {
	name := "RESYNC"
	if !resync {
		name = strings.ToUpper(t.String())
	}
	for i := len(name) + 2; i < 9; i++ {
		b = append(b, ' ')
	}
	b = append(b, '[')
	b = append(b, name...)
	return append(b, "] "...)
}
