package expect

import (
	"net/netip"
	"strconv"

	"github.com/gonfct/gonfct/pkg/ctnetlink"
)

// AppendText appends the expectation as `conntrack -L expect` prints it
// (libnetfilter_conntrack's default expectation format), with a newline:
//
//	300 proto=6 src=10.0.0.2 dst=10.0.0.1 sport=0 dport=50000 mask-src=255.255.255.255 mask-dst=255.255.255.255 sport=0 dport=65535 master-src=10.0.0.1 master-dst=10.0.0.2 sport=40000 dport=21 class=0 helper=ftp
//
// Fields: seconds left, protocol number, expected tuple, mask, master
// tuple, zone (only when the message carried one, which kernel dumps never
// do), flags, class, helper. NAT data and the expectfn are not printed.
func (e *Expectation) AppendText(b []byte) []byte {
	b = strconv.AppendUint(b, uint64(e.Timeout), 10)
	b = append(b, " proto="...)
	b = strconv.AppendUint(b, uint64(e.Tuple.Proto), 10)
	b = append(b, ' ')
	b = appendAddrs(b, "src=", "dst=", e.Tuple.Src, e.Tuple.Dst)
	b = ctnetlink.AppendL4Text(b, &e.Tuple, e.Tuple.Proto)
	b = appendAddrs(b, "mask-src=", "mask-dst=", e.Mask.Src, e.Mask.Dst)
	b = ctnetlink.AppendL4Text(b, &e.Mask, e.Tuple.Proto)
	b = appendAddrs(b, "master-src=", "master-dst=", e.Master.Src, e.Master.Dst)
	b = ctnetlink.AppendL4Text(b, &e.Master, e.Master.Proto)
	if e.HasZone {
		b = append(b, "zone="...)
		b = strconv.AppendUint(b, uint64(e.Zone), 10)
		b = append(b, ' ')
	}
	if e.Flags&(Permanent|Inactive|Userspace) != 0 {
		b = e.Flags.AppendText(b)
		b = append(b, ' ')
	}
	b = append(b, "class="...)
	b = strconv.AppendUint(b, uint64(e.Class), 10)
	b = append(b, ' ')
	if e.Helper != "" {
		b = append(b, "helper="...)
		b = append(b, e.Helper...)
		b = append(b, ' ')
	}
	// conntrack drops the last blank.
	if n := len(b); n > 0 && b[n-1] == ' ' {
		b = b[:n-1]
	}
	return append(b, '\n')
}

func appendAddrs(b []byte, sk, dk string, src, dst netip.Addr) []byte {
	b = append(b, sk...)
	b = ctnetlink.AppendAddr(b, src)
	b = append(b, ' ')
	b = append(b, dk...)
	b = ctnetlink.AppendAddr(b, dst)
	return append(b, ' ')
}

// AppendEvent appends an event line as `conntrack -E expect` prints it:
// the event column ("    [NEW] ", "[DESTROY] "), then the expectation.
// An event a resync made up prints as the kernel's own would.
func (e *Expectation) AppendEvent(b []byte, t ctnetlink.EventType) []byte {
	return e.AppendText(ctnetlink.AppendEventPrefix(b, t, false))
}
