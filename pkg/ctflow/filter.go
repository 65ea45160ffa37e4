package ctflow

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/gonfct/gonfct/pkg/ctnetlink"
	"github.com/gonfct/gonfct/pkg/ctnl"
	"golang.org/x/sys/unix"
)

// Filter selects conntracks. The zero Filter selects everything. What the
// kernel can filter (family, mark/mask, status, zone, and IPv4 addresses,
// protocol and TCP/UDP ports through CTA_FILTER) is sent with the dump so
// unwanted entries never cross the socket; Match checks every condition in
// user space as well, so the result does not depend on the kernel's
// version or its filter bugs.
type Filter struct {
	Family uint8 // AF_INET, AF_INET6 or 0 for both

	Proto    uint8
	HasProto bool

	// Addresses or prefixes of the original and reply directions.
	Src, Dst, ReplySrc, ReplyDst         netip.Prefix
	Sport, Dport, ReplySport, ReplyDport ctnetlink.Port

	Helper    string // helper name; "" for any
	HasHelper bool   // with Helper "": only flows without a helper

	Mark, MarkMask uint32
	HasMark        bool

	Zone    uint16
	HasZone bool

	Status      Status // all of these bits set
	StatusClear Status // all of these bits clear ("UNREPLIED": SEEN_REPLY clear)

	State    uint8 // protocol state (with HasProto, or TCP)
	HasState bool

	Labels [LabelsLen]byte // all of these label bits set
}

// IsZero reports whether the filter selects everything.
func (f *Filter) IsZero() bool { return *f == Filter{} }

// family is the filter's family, from Family or its addresses.
func (f *Filter) family() uint8 {
	if f.Family != 0 {
		return f.Family
	}
	for _, p := range []netip.Prefix{f.Src, f.Dst, f.ReplySrc, f.ReplyDst} {
		if p.IsValid() {
			if p.Addr().Is4() {
				return unix.AF_INET
			}
			return unix.AF_INET6
		}
	}
	return 0
}

func exact4(p netip.Prefix) bool { return p.IsValid() && p.Addr().Is4() && p.Bits() == 32 }

func portProto(p uint8) bool { return p == unix.IPPROTO_TCP || p == unix.IPPROTO_UDP }

// kernelTuple builds the CTA_FILTER flags and tuple for one direction. IPv6
// addresses are left to user space: ctnetlink_filter_match_tuple (6.18
// included) compares them inverted with ipv6_addr_cmp, so a kernel-side
// IPv6 address filter would select exactly the wrong flows.
func (f *Filter) kernelTuple(src, dst netip.Prefix, sport, dport ctnetlink.Port) (uint32, ctnetlink.Tuple) {
	var flags uint32
	t := ctnetlink.Tuple{Src: netip.IPv4Unspecified(), Dst: netip.IPv4Unspecified()}
	if f.family() == unix.AF_INET6 {
		t.Src, t.Dst = netip.IPv6Unspecified(), netip.IPv6Unspecified()
	}
	if exact4(src) {
		flags |= ctnetlink.FilterIPSrc
		t.Src = src.Addr()
	}
	if exact4(dst) {
		flags |= ctnetlink.FilterIPDst
		t.Dst = dst.Addr()
	}
	if f.HasProto {
		flags |= ctnetlink.FilterProtoNum
		t.Proto = f.Proto
		if portProto(f.Proto) {
			if sport.Set {
				flags |= ctnetlink.FilterSrcPort
				t.SrcPort = sport.N
			}
			if dport.Set {
				flags |= ctnetlink.FilterDstPort
				t.DstPort = dport.N
			}
		}
	}
	return flags, t
}

// EncodeKernel appends the dump-request attributes for the parts of the
// filter the kernel understands, and returns the nfgenmsg family.
func (f *Filter) EncodeKernel(e *ctnl.Encoder) uint8 {
	fam := f.family()
	if f.HasMark {
		e.Uint32(ctnetlink.AttrMark, f.Mark)
		e.Uint32(ctnetlink.AttrMarkMask, f.MarkMask)
	}
	if f.Status|f.StatusClear != 0 {
		e.Uint32(ctnetlink.AttrStatus, uint32(f.Status))
		e.Uint32(ctnetlink.AttrStatusMask, uint32(f.Status|f.StatusClear))
	}
	if f.HasZone {
		e.Uint16(ctnetlink.AttrZone, f.Zone)
	}
	if fam == 0 {
		return 0 // CTA_FILTER needs a family (EOPNOTSUPP otherwise)
	}
	of, ot := f.kernelTuple(f.Src, f.Dst, f.Sport, f.Dport)
	rf, rt := f.kernelTuple(f.ReplySrc, f.ReplyDst, f.ReplySport, f.ReplyDport)
	if of == 0 && rf == 0 {
		return fam
	}
	if of != 0 {
		ot.Encode(e, ctnetlink.AttrTupleOrig)
	}
	if rf != 0 {
		rt.Encode(e, ctnetlink.AttrTupleReply)
	}
	n := e.Nest(ctnetlink.AttrFilter)
	// CTA_FILTER_*_FLAGS are NLA_U32 read with nla_get_u32: host order.
	var b [4]byte
	if of != 0 {
		binary.NativeEndian.PutUint32(b[:], of)
		e.Put(ctnetlink.AttrFilterOrigFlags, b[:])
	}
	if rf != 0 {
		binary.NativeEndian.PutUint32(b[:], rf)
		e.Put(ctnetlink.AttrFilterReplyFlags, b[:])
	}
	e.End(n)
	return fam
}

// Match reports whether fl passes every condition of the filter.
func (f *Filter) Match(fl *Flow) bool {
	if f.Family != 0 && fl.Family != f.Family {
		return false
	}
	if f.HasProto && fl.Proto() != f.Proto {
		return false
	}
	if !matchAddr(f.Src, fl.Orig.Src) || !matchAddr(f.Dst, fl.Orig.Dst) ||
		!matchAddr(f.ReplySrc, fl.Reply.Src) || !matchAddr(f.ReplyDst, fl.Reply.Dst) {
		return false
	}
	if !matchPort(f.Sport, &fl.Orig, true) || !matchPort(f.Dport, &fl.Orig, false) ||
		!matchPort(f.ReplySport, &fl.Reply, true) || !matchPort(f.ReplyDport, &fl.Reply, false) {
		return false
	}
	if f.HasHelper && string(fl.HelperBytes()) != f.Helper {
		return false
	}
	if f.HasMark && fl.Mark&f.MarkMask != f.Mark {
		return false
	}
	if f.HasZone && !(fl.Has(HasZone) && fl.Zone == f.Zone) &&
		!(fl.Orig.HasZone && fl.Orig.Zone == f.Zone) && !(fl.Reply.HasZone && fl.Reply.Zone == f.Zone) &&
		!(f.Zone == 0 && !fl.Has(HasZone) && !fl.Orig.HasZone && !fl.Reply.HasZone) {
		return false
	}
	if fl.Status&f.Status != f.Status || fl.Status&f.StatusClear != 0 {
		return false
	}
	if f.HasState && (!fl.Has(HasState) || fl.State != f.State) {
		return false
	}
	if f.Labels != [LabelsLen]byte{} {
		for i, b := range f.Labels {
			if fl.Labels[i]&b != b {
				return false
			}
		}
	}
	return true
}

func matchAddr(p netip.Prefix, a netip.Addr) bool {
	return !p.IsValid() || p.Contains(a)
}

func matchPort(p ctnetlink.Port, t *ctnetlink.Tuple, src bool) bool {
	if !p.Set {
		return true
	}
	if ctnetlink.Layer4Of(t.Proto) != ctnetlink.Ports {
		return false
	}
	if src {
		return p.Matches(t.SrcPort)
	}
	return p.Matches(t.DstPort)
}

// ParseStatusFilter reads a status selection in conntrack -u's words: a
// comma-separated list of status names (any case, - or _), each meaning
// "this bit set", or with a leading "!" "this bit clear"; UNREPLIED is
// !SEEN_REPLY. A bit both set and clear is an error: nothing could match.
func ParseStatusFilter(s string) (set, clear Status, err error) {
	for w := range strings.SplitSeq(s, ",") {
		w = strings.ToUpper(strings.ReplaceAll(strings.TrimSpace(w), "-", "_"))
		neg := strings.HasPrefix(w, "!")
		w = strings.TrimPrefix(w, "!")
		switch w {
		case "":
			continue
		case "UNREPLIED":
			if neg {
				return 0, 0, errors.New("!UNREPLIED means seen_reply: say that")
			}
			clear |= StatusSeenReply
			continue
		}
		st, err := ParseStatus(w)
		if err != nil {
			return 0, 0, fmt.Errorf("unknown status %q: want %s or unreplied; a leading ! means the bit is clear", w,
				strings.ToLower(strings.Join(statusNames, ", ")))
		}
		if neg {
			clear |= st
		} else {
			set |= st
		}
	}
	if both := set & clear; both != 0 {
		return 0, 0, fmt.Errorf("%s both set and clear: nothing can match", strings.ToLower(both.String()))
	}
	return set, clear, nil
}
