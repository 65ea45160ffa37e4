// Package ctflow is conntrack (flow) work over ctnetlink: the Flow model
// with helper name and private data, an allocation-free decoder and the
// conntrack(8) text line, create/update/get/delete/flush, streaming listing
// with kernel-side filters, event watching with loss recovery, and the
// versioned save/restore format used for firewall failover.
//
// Wire plumbing (sockets, attributes, tuples) comes from pkg/ctnl; this
// package only knows the CTA_* attributes of a conntrack.
package ctflow

import (
	"fmt"
	"strings"

	"github.com/gonfct/gonfct/pkg/ctnetlink"
	"github.com/gonfct/gonfct/pkg/ctnl"
	"golang.org/x/sys/unix"
)

// Field marks which optional attributes a Flow carries. Absent and zero
// differ: conntrack(8) prints "mark=0" only when the kernel sent CTA_MARK.
type Field uint32

// Fields a Flow may carry.
const (
	HasStatus Field = 1 << iota
	HasTimeout
	HasMark
	HasID
	HasUse
	HasZone
	HasMaster
	HasState      // TCP, SCTP or DCCP state
	HasTCPWScale  // both window scales
	HasTCPFlags   // both flag bytes
	HasSCTPVTags  // both verification tags
	HasHelper     // helper name
	HasHelperInfo // helper private data
	HasLabels
	HasSecctx
	HasCounters
	HasTimestamp
)

// Flow is one conntrack. Decode fills it without allocating, so a listing
// reuses one Flow for every entry; fixed-size arrays hold the helper name,
// private data and labels for the same reason.
type Flow struct {
	Set    Field
	Family uint8 // AF_INET or AF_INET6 (nfgenmsg family)

	Orig, Reply ctnetlink.Tuple
	Master      ctnetlink.Tuple // the master's original tuple, for expected flows

	Status  Status
	Timeout uint32 // seconds left
	Mark    uint32
	ID      uint32
	Use     uint32
	Zone    uint16 // CTA_ZONE (both directions)

	State                    uint8 // TCP/SCTP/DCCP state number
	stateProto               uint8 // whose state: the protocol info it came in
	TCPWScaleOrig            uint8
	TCPWScaleReply           uint8
	TCPFlagsOrig             uint8
	TCPFlagsReply            uint8
	SCTPVTagOrig, SCTPVTagRe uint32

	helper     [HelperNameMax + 1]byte
	helperLen  uint8
	helperInfo [HelperInfoMax]byte
	infoLen    uint8
	Labels     [LabelsLen]byte
	// LabelsMask, in an update, limits the change to these label bits
	// (CTA_LABELS_MASK): Labels' bits in it are set, the others in it
	// cleared. Zero: Labels replaces all.
	LabelsMask [LabelsLen]byte
	Secctx     string // rare (LSM contexts); the only field that allocates

	// PortID is, for an event, the netlink port of the request that caused
	// it (0: the kernel's own doing). Watch sets it; Decode clears it.
	PortID uint32

	OrigPackets, OrigBytes   uint64
	ReplyPackets, ReplyBytes uint64
	Start, Stop              uint64 // timestamps, ns since the epoch
}

// Has reports whether the flow carries all of the given fields.
func (f *Flow) Has(x Field) bool { return f.Set&x == x }

// Proto is the layer-4 protocol number.
func (f *Flow) Proto() uint8 { return f.Orig.Proto }

// Helper is the helper name ("" if none).
func (f *Flow) Helper() string { return string(f.helper[:f.helperLen]) }

// HelperBytes is the helper name without a copy; valid until the next Decode.
func (f *Flow) HelperBytes() []byte { return f.helper[:f.helperLen] }

// SetHelper sets the helper name; it must be at most HelperNameMax bytes.
func (f *Flow) SetHelper(name string) error {
	if len(name) > HelperNameMax {
		return fmt.Errorf("helper name %q is %d bytes: the kernel allows at most %d", name, len(name), HelperNameMax)
	}
	if strings.IndexByte(name, 0) >= 0 {
		return fmt.Errorf("helper name %q contains a NUL byte", name)
	}
	f.helperLen = uint8(copy(f.helper[:], name))
	f.Set |= HasHelper
	return nil
}

// HelperInfo is the helper's private data (CTA_HELP_INFO), aliasing the Flow.
func (f *Flow) HelperInfo() []byte { return f.helperInfo[:f.infoLen] }

// SetHelperInfo sets the helper's private data (at most HelperInfoMax bytes).
func (f *Flow) SetHelperInfo(b []byte) error {
	if len(b) > HelperInfoMax {
		return fmt.Errorf("helper private data is %d bytes: the kernel keeps at most %d", len(b), HelperInfoMax)
	}
	f.infoLen = uint8(copy(f.helperInfo[:], b))
	f.Set |= HasHelperInfo
	return nil
}

// Status is the conntrack status bit set (IPS_*).
type Status uint32

// Status bits (uapi/linux/netfilter/nf_conntrack_common.h).
const (
	StatusExpected     Status = 1 << 0
	StatusSeenReply    Status = 1 << 1
	StatusAssured      Status = 1 << 2
	StatusConfirmed    Status = 1 << 3
	StatusSrcNAT       Status = 1 << 4
	StatusDstNAT       Status = 1 << 5
	StatusSeqAdjust    Status = 1 << 6
	StatusSrcNATDone   Status = 1 << 7
	StatusDstNATDone   Status = 1 << 8
	StatusDying        Status = 1 << 9
	StatusFixedTimeout Status = 1 << 10
	StatusTemplate     Status = 1 << 11
	StatusUntracked    Status = 1 << 12
	StatusHelper       Status = 1 << 13
	StatusOffload      Status = 1 << 14
	StatusHWOffload    Status = 1 << 15
)

var statusNames = []string{
	"EXPECTED", "SEEN_REPLY", "ASSURED", "CONFIRMED", "SRC_NAT", "DST_NAT",
	"SEQ_ADJUST", "SRC_NAT_DONE", "DST_NAT_DONE", "DYING", "FIXED_TIMEOUT",
	"TEMPLATE", "UNTRACKED", "HELPER", "OFFLOAD", "HW_OFFLOAD",
}

// Settable are the bits user space may set: the kernel ignores or refuses
// the others (nf_ct_change_status_common), and SEEN_REPLY and ASSURED can
// only be set, never cleared.
const Settable = StatusSeenReply | StatusAssured | StatusFixedTimeout

// Names lists the set bits by name, lowest first.
func (s Status) Names() []string {
	var out []string
	for i, n := range statusNames {
		if s&(1<<i) != 0 {
			out = append(out, n)
		}
	}
	for i := len(statusNames); i < 32; i++ {
		if s&(1<<i) != 0 {
			out = append(out, fmt.Sprintf("BIT%d", i))
		}
	}
	return out
}

func (s Status) String() string { return strings.Join(s.Names(), ",") }

// ParseStatus reads a comma-separated list of status names (any case, - or
// _): "assured,seen-reply".
func ParseStatus(s string) (Status, error) {
	var st Status
	for _, w := range strings.Split(s, ",") {
		w = strings.ToUpper(strings.ReplaceAll(strings.TrimSpace(w), "-", "_"))
		if w == "" {
			continue
		}
		found := false
		for i, n := range statusNames {
			if n == w {
				st |= 1 << i
				found = true
				break
			}
		}
		if !found {
			return 0, fmt.Errorf("unknown status %q: want %s", w, strings.ToLower(strings.Join(statusNames, ", ")))
		}
	}
	return st, nil
}

// TCP states as the kernel numbers them (enum tcp_conntrack) and
// conntrack(8) names them.
var tcpStates = []string{"NONE", "SYN_SENT", "SYN_RECV", "ESTABLISHED", "FIN_WAIT",
	"CLOSE_WAIT", "LAST_ACK", "TIME_WAIT", "CLOSE", "SYN_SENT2"}

// SCTP states (enum sctp_conntrack) as libnetfilter_conntrack names them.
var sctpStates = []string{"NONE", "CLOSED", "COOKIE_WAIT", "COOKIE_ECHOED", "ESTABLISHED",
	"SHUTDOWN_SENT", "SHUTDOWN_RECD", "SHUTDOWN_ACK_SENT", "HEARTBEAT_SENT", "HEARTBEAT_ACKED"}

// DCCP states (enum ct_dccp_states).
var dccpStates = []string{"NONE", "REQUEST", "RESPOND", "PARTOPEN", "OPEN", "CLOSEREQ",
	"CLOSING", "TIMEWAIT", "IGNORE", "INVALID"}

func stateTable(proto uint8) []string {
	switch proto {
	case unix.IPPROTO_TCP:
		return tcpStates
	case unix.IPPROTO_SCTP:
		return sctpStates
	case unix.IPPROTO_DCCP:
		return dccpStates
	}
	return nil
}

// StateName is the flow's protocol state name ("ESTABLISHED"), or "" for
// protocols without states.
func (f *Flow) StateName() string {
	if !f.Has(HasState) {
		return ""
	}
	p := f.stateProto
	if p == 0 {
		p = f.Proto()
	}
	t := stateTable(p)
	if t == nil {
		return ""
	}
	if int(f.State) < len(t) {
		return t[f.State]
	}
	return t[0]
}

// ParseState reads a state name for a protocol (TCP by default).
func ParseState(proto uint8, s string) (uint8, error) {
	t := stateTable(proto)
	if t == nil {
		return 0, fmt.Errorf("protocol %s has no states", ctnl.ProtoName(proto))
	}
	u := strings.ToUpper(strings.ReplaceAll(s, "-", "_"))
	for i, n := range t {
		if n == u {
			return uint8(i), nil
		}
	}
	return 0, fmt.Errorf("unknown %s state %q: want one of %s", ctnl.ProtoName(proto), s, strings.Join(t, ", "))
}

// Decode reads one ctnetlink conntrack message's attributes into f,
// replacing what f held. It does not allocate (except for a security
// context, which only LSM-labelled systems have).
func Decode(family uint8, attrs []byte, f *Flow) error {
	*f = Flow{Family: family}
	s := ctnl.NewScanner(attrs)
	var err error
	for s.Next() {
		switch s.Type() {
		case ctnetlink.AttrTupleOrig:
			if f.Orig, err = ctnetlink.DecodeTuple(s.Data()); err != nil {
				return fmt.Errorf("original tuple: %w", err)
			}
		case ctnetlink.AttrTupleReply:
			if f.Reply, err = ctnetlink.DecodeTuple(s.Data()); err != nil {
				return fmt.Errorf("reply tuple: %w", err)
			}
		case ctnetlink.AttrTupleMaster:
			if f.Master, err = ctnetlink.DecodeTuple(s.Data()); err != nil {
				return fmt.Errorf("master tuple: %w", err)
			}
			f.Set |= HasMaster
		case ctnetlink.AttrStatus:
			f.Status, f.Set = Status(s.Uint32()), f.Set|HasStatus
		case ctnetlink.AttrTimeout:
			f.Timeout, f.Set = s.Uint32(), f.Set|HasTimeout
		case ctnetlink.AttrMark:
			f.Mark, f.Set = s.Uint32(), f.Set|HasMark
		case ctnetlink.AttrID:
			f.ID, f.Set = s.Uint32(), f.Set|HasID
		case ctnetlink.AttrUse:
			f.Use, f.Set = s.Uint32(), f.Set|HasUse
		case ctnetlink.AttrZone:
			f.Zone, f.Set = s.Uint16(), f.Set|HasZone
		case ctnetlink.AttrProtoinfo:
			if err := f.decodeProtoinfo(s.Nested()); err != nil {
				return err
			}
		case ctnetlink.AttrHelp:
			h := s.Nested()
			for h.Next() {
				switch h.Type() {
				case ctnetlink.AttrHelpName:
					d := h.Data()
					for i, c := range d {
						if c == 0 {
							d = d[:i]
							break
						}
					}
					if len(d) > HelperNameMax {
						d = d[:HelperNameMax]
					}
					f.helperLen = uint8(copy(f.helper[:], d))
					f.Set |= HasHelper
				case ctnetlink.AttrHelpInfo:
					d := h.Data()
					if len(d) > HelperInfoMax {
						d = d[:HelperInfoMax]
					}
					f.infoLen = uint8(copy(f.helperInfo[:], d))
					f.Set |= HasHelperInfo
				}
			}
			if err := h.Err(); err != nil {
				return fmt.Errorf("helper: %w", err)
			}
		case ctnetlink.AttrLabels:
			copy(f.Labels[:], s.Data())
			f.Set |= HasLabels
		case ctnetlink.AttrSecctx:
			n := s.Nested()
			for n.Next() {
				if n.Type() == ctnetlink.AttrSecctxName {
					f.Secctx, f.Set = n.String(), f.Set|HasSecctx
				}
			}
		case ctnetlink.AttrCountersOrig, ctnetlink.AttrCountersReply:
			p, b := decodeCounters(s.Nested())
			if s.Type() == ctnetlink.AttrCountersOrig {
				f.OrigPackets, f.OrigBytes = p, b
			} else {
				f.ReplyPackets, f.ReplyBytes = p, b
			}
			f.Set |= HasCounters
		case ctnetlink.AttrTimestamp:
			n := s.Nested()
			for n.Next() {
				switch n.Type() {
				case ctnetlink.AttrTimestampStart:
					f.Start = n.Uint64()
				case ctnetlink.AttrTimestampStop:
					f.Stop = n.Uint64()
				}
			}
			f.Set |= HasTimestamp
		}
	}
	if err := s.Err(); err != nil {
		return err
	}
	if f.Family == 0 {
		f.Family = f.Orig.Family()
	}
	return nil
}

func decodeCounters(s ctnl.Scanner) (packets, bytes uint64) {
	for s.Next() {
		switch s.Type() {
		case ctnetlink.AttrCountersPackets:
			packets = s.Uint64()
		case ctnetlink.AttrCountersBytes:
			bytes = s.Uint64()
		case ctnetlink.AttrCounters32Packets:
			packets = uint64(s.Uint32())
		case ctnetlink.AttrCounters32Bytes:
			bytes = uint64(s.Uint32())
		}
	}
	return packets, bytes
}

func (f *Flow) decodeProtoinfo(s ctnl.Scanner) error {
	for s.Next() {
		p := s.Nested()
		switch s.Type() {
		case ctnetlink.AttrProtoinfoTCP:
			for p.Next() {
				switch p.Type() {
				case ctnetlink.AttrTCPState:
					f.State, f.Set, f.stateProto = p.Uint8(), f.Set|HasState, unix.IPPROTO_TCP
				case ctnetlink.AttrTCPWScaleOrig:
					f.TCPWScaleOrig, f.Set = p.Uint8(), f.Set|HasTCPWScale
				case ctnetlink.AttrTCPWScaleRepl:
					f.TCPWScaleReply = p.Uint8()
				case ctnetlink.AttrTCPFlagsOrig:
					f.TCPFlagsOrig, f.Set = p.Uint8(), f.Set|HasTCPFlags
				case ctnetlink.AttrTCPFlagsRepl:
					f.TCPFlagsReply = p.Uint8()
				}
			}
		case ctnetlink.AttrProtoinfoSCTP:
			for p.Next() {
				switch p.Type() {
				case ctnetlink.AttrSCTPState:
					f.State, f.Set, f.stateProto = p.Uint8(), f.Set|HasState, unix.IPPROTO_SCTP
				case ctnetlink.AttrSCTPVTagOrig:
					f.SCTPVTagOrig, f.Set = p.Uint32(), f.Set|HasSCTPVTags
				case ctnetlink.AttrSCTPVTagReply:
					f.SCTPVTagRe = p.Uint32()
				}
			}
		case ctnetlink.AttrProtoinfoDCCP:
			for p.Next() {
				if p.Type() == ctnetlink.AttrDCCPState {
					f.State, f.Set, f.stateProto = p.Uint8(), f.Set|HasState, unix.IPPROTO_DCCP
				}
			}
		}
		if err := p.Err(); err != nil {
			return fmt.Errorf("protocol info: %w", err)
		}
	}
	return s.Err()
}

// StateNames are the protocol's state names as --state takes them, or nil
// for a protocol without states.
func StateNames(proto uint8) []string { return append([]string(nil), stateTable(proto)...) }
