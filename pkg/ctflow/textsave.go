package ctflow

import (
	"encoding/binary"
	"strconv"

	"github.com/gonfct/gonfct/pkg/ctnetlink"
	"golang.org/x/sys/unix"
)

// saveStatus are the status bits conntrack -o save writes as -u words (the
// ones its -u takes), lowest bit first; with none of them set it writes
// UNSET.
var saveStatus = []Status{StatusExpected, StatusSeenReply, StatusAssured, StatusFixedTimeout, StatusOffload}

// AppendSave appends the flow as conntrack -L -o save prints it: a line
// of conntrack options ("-A -t 99 -u SEEN_REPLY,ASSURED -s ... -p tcp
// --sport ... --state ESTABLISHED") that conntrack -R (and the shell) can
// read back. Like conntrack's, it carries the tuples, timeout, status,
// zones and protocol state, not the mark, helper or labels.
func (f *Flow) AppendSave(b []byte) []byte {
	b = append(b, "-A"...)
	if f.Has(HasTimeout) {
		b = appendOpt(b, "-t", uint64(f.Timeout))
	}
	b = append(b, " -u "...)
	n := 0
	for _, s := range saveStatus {
		if f.Status&s != 0 {
			if n > 0 {
				b = append(b, ',')
			}
			b = append(b, statusNames[bitIndex(s)]...)
			n++
		}
	}
	if n == 0 {
		b = append(b, "UNSET"...)
	}
	if f.Has(HasZone) {
		b = appendOpt(b, "-w", uint64(f.Zone))
	}
	if f.Orig.HasZone {
		b = appendOpt(b, "--orig-zone", uint64(f.Orig.Zone))
	}
	if f.Reply.HasZone {
		b = appendOpt(b, "--reply-zone", uint64(f.Reply.Zone))
	}
	b = appendAddr(b, "-s", &f.Orig, true)
	b = appendAddr(b, "-d", &f.Orig, false)
	b = appendAddr(b, "-r", &f.Reply, true)
	b = appendAddr(b, "-q", &f.Reply, false)
	p := f.Proto()
	b = append(b, " -p "...)
	if name := l4Names[p]; name != "" {
		b = append(b, name...)
	} else {
		b = strconv.AppendUint(b, uint64(p), 10)
	}
	switch {
	case p == unix.IPPROTO_ICMP || p == unix.IPPROTO_ICMPV6:
		b = appendOpt(b, "--icmp-type", uint64(f.Orig.ICMPType))
		b = appendOpt(b, "--icmp-code", uint64(f.Orig.ICMPCode))
		b = appendOpt(b, "--icmp-id", uint64(f.Orig.ICMPID))
	case ctnetlink.Layer4Of(p) == ctnetlink.GREKeys:
		b = appendOpt(b, "--srckey", uint64(f.Orig.SrcPort))
		b = appendOpt(b, "--dstkey", uint64(f.Orig.DstPort))
		b = appendOpt(b, "--reply-key-src", uint64(f.Reply.SrcPort))
		b = appendOpt(b, "--reply-key-dst", uint64(f.Reply.DstPort))
	case ctnetlink.Layer4Of(p) == ctnetlink.Ports:
		b = appendOpt(b, "--sport", uint64(f.Orig.SrcPort))
		b = appendOpt(b, "--dport", uint64(f.Orig.DstPort))
		b = appendOpt(b, "--reply-port-src", uint64(f.Reply.SrcPort))
		b = appendOpt(b, "--reply-port-dst", uint64(f.Reply.DstPort))
	}
	if name := f.StateName(); name != "" {
		b = append(b, " --state "...)
		b = append(b, name...)
	}
	if f.Has(HasSCTPVTags) {
		b = appendOpt(b, "--orig-vtag", uint64(hostOrder(f.SCTPVTagOrig)))
		b = appendOpt(b, "--reply-vtag", uint64(hostOrder(f.SCTPVTagRe)))
	}
	return append(b, '\n')
}

func appendOpt(b []byte, opt string, v uint64) []byte {
	b = append(b, ' ')
	b = append(b, opt...)
	b = append(b, ' ')
	return strconv.AppendUint(b, v, 10)
}

func appendAddr(b []byte, opt string, t *ctnetlink.Tuple, src bool) []byte {
	b = append(b, ' ')
	b = append(b, opt...)
	b = append(b, ' ')
	if src {
		return t.Src.AppendTo(b)
	}
	return t.Dst.AppendTo(b)
}

// hostOrder is v's wire bytes read in host order. conntrack 1.4.7 sends
// and prints SCTP verification tags in host order, though the kernel
// takes them in network order: its save lines carry the host-order
// number, which its -I sends back as the same bytes.
func hostOrder(v uint32) uint32 {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], v)
	return binary.NativeEndian.Uint32(b[:])
}

func bitIndex(s Status) int {
	for i := 0; i < 32; i++ {
		if s == 1<<i {
			return i
		}
	}
	return 0
}
