package ctflow

import (
	"github.com/gonfct/gonfct/pkg/ctnetlink"
	"github.com/gonfct/gonfct/pkg/ctnl"
	"golang.org/x/sys/unix"
)

// EncodeCreate appends the attributes of an IPCTNL_MSG_CT_NEW that creates
// f: both tuples (the kernel refuses a creation without the reply tuple),
// timeout, status, protocol state, mark, zone, labels, master, and the
// helper as CTA_HELP{CTA_HELP_NAME (NUL-terminated), CTA_HELP_INFO}.
func EncodeCreate(e *ctnl.Encoder, f *Flow) {
	f.Orig.Encode(e, ctnetlink.AttrTupleOrig)
	f.Reply.Encode(e, ctnetlink.AttrTupleReply)
	if f.Has(HasZone) {
		e.Uint16(ctnetlink.AttrZone, f.Zone)
	}
	e.Uint32(ctnetlink.AttrTimeout, f.Timeout)
	// CONFIRMED is part of every created conntrack: a status without it
	// is a change of an unchangeable bit (EBUSY), as libnetfilter_conntrack
	// also knows.
	e.Uint32(ctnetlink.AttrStatus, uint32(f.Status&Settable|StatusConfirmed))
	encodeProtoinfo(e, f)
	if f.Has(HasMark) {
		e.Uint32(ctnetlink.AttrMark, f.Mark)
	}
	encodeHelp(e, f)
	if f.Has(HasLabels) {
		e.Put(ctnetlink.AttrLabels, f.Labels[:])
	}
	if f.Has(HasMaster) {
		f.Master.Encode(e, ctnetlink.AttrTupleMaster)
	}
}

// EncodeUpdate appends the attributes of an IPCTNL_MSG_CT_NEW without
// NLM_F_CREATE that changes an existing conntrack: the original tuple
// finds it, and only the fields in f.Set are sent. A status must hold the
// current bits too (the kernel refuses to clear any); markMask, if not
// zero, keeps the mark bits outside it.
func EncodeUpdate(e *ctnl.Encoder, f *Flow, markMask uint32) {
	f.Orig.Encode(e, ctnetlink.AttrTupleOrig)
	if f.Has(HasZone) {
		e.Uint16(ctnetlink.AttrZone, f.Zone)
	}
	if f.Has(HasTimeout) {
		e.Uint32(ctnetlink.AttrTimeout, f.Timeout)
	}
	if f.Has(HasStatus) {
		e.Uint32(ctnetlink.AttrStatus, uint32(f.Status))
	}
	encodeProtoinfo(e, f)
	if f.Has(HasMark) {
		e.Uint32(ctnetlink.AttrMark, f.Mark)
		if markMask != 0 {
			e.Uint32(ctnetlink.AttrMarkMask, markMask)
		}
	}
	encodeHelp(e, f)
	if f.Has(HasLabels) {
		e.Put(ctnetlink.AttrLabels, f.Labels[:])
		if f.LabelsMask != [LabelsLen]byte{} {
			e.Put(ctnetlink.AttrLabelsMask, f.LabelsMask[:])
		}
	}
}

func encodeHelp(e *ctnl.Encoder, f *Flow) {
	if !f.Has(HasHelper) {
		return
	}
	n := e.Nest(ctnetlink.AttrHelp)
	e.String(ctnetlink.AttrHelpName, f.Helper())
	if f.Has(HasHelperInfo) {
		e.Put(ctnetlink.AttrHelpInfo, f.HelperInfo())
	}
	e.End(n)
}

func encodeProtoinfo(e *ctnl.Encoder, f *Flow) {
	switch f.Proto() {
	case unix.IPPROTO_TCP:
		if f.Set&(HasState|HasTCPWScale|HasTCPFlags) == 0 {
			return
		}
		p := e.Nest(ctnetlink.AttrProtoinfo)
		t := e.Nest(ctnetlink.AttrProtoinfoTCP)
		if f.Has(HasState) {
			e.Uint8(ctnetlink.AttrTCPState, f.State)
		}
		if f.Has(HasTCPWScale) {
			e.Uint8(ctnetlink.AttrTCPWScaleOrig, f.TCPWScaleOrig)
			e.Uint8(ctnetlink.AttrTCPWScaleRepl, f.TCPWScaleReply)
		}
		if f.Has(HasTCPFlags) {
			// struct nf_ct_tcp_flags {flags, mask}: the kernel dumps a zero
			// mask; setting means flags under a mask of themselves.
			e.Put(ctnetlink.AttrTCPFlagsOrig, []byte{f.TCPFlagsOrig, f.TCPFlagsOrig})
			e.Put(ctnetlink.AttrTCPFlagsRepl, []byte{f.TCPFlagsReply, f.TCPFlagsReply})
		}
		e.End(t)
		e.End(p)
	case unix.IPPROTO_SCTP:
		// The kernel wants state and both tags together.
		if !f.Has(HasState | HasSCTPVTags) {
			return
		}
		p := e.Nest(ctnetlink.AttrProtoinfo)
		s := e.Nest(ctnetlink.AttrProtoinfoSCTP)
		e.Uint8(ctnetlink.AttrSCTPState, f.State)
		e.Uint32(ctnetlink.AttrSCTPVTagOrig, f.SCTPVTagOrig)
		e.Uint32(ctnetlink.AttrSCTPVTagReply, f.SCTPVTagRe)
		e.End(s)
		e.End(p)
	}
}

// Invert is the reply tuple the kernel would make for an unNATed tuple:
// addresses and ports swapped, ICMP requests answered by their replies.
func Invert(t ctnetlink.Tuple) ctnetlink.Tuple {
	r := t
	r.Src, r.Dst = t.Dst, t.Src
	r.SrcPort, r.DstPort = t.DstPort, t.SrcPort
	switch t.Proto {
	case unix.IPPROTO_ICMP:
		if rt, ok := icmpReply[t.ICMPType]; ok {
			r.ICMPType = rt
		}
	case unix.IPPROTO_ICMPV6:
		if rt, ok := icmp6Reply[t.ICMPType]; ok {
			r.ICMPType = rt
		}
	}
	return r
}

// The request/reply pairs conntrack tracks (nf_conntrack_proto_icmp.c).
var icmpReply = map[uint8]uint8{8: 0, 0: 8, 13: 14, 14: 13, 15: 16, 16: 15, 17: 18, 18: 17}
var icmp6Reply = map[uint8]uint8{128: 129, 129: 128, 130: 131, 131: 130}
