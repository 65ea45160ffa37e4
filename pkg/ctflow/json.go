package ctflow

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/gonfct/gonfct/pkg/ctnetlink"
	"github.com/gonfct/gonfct/pkg/ctnl"
	"golang.org/x/sys/unix"
)

// TupleJSON is a tuple in the JSON formats (docs/json.md).
type TupleJSON struct {
	Src   string  `json:"src"`
	Dst   string  `json:"dst"`
	Sport *uint16 `json:"sport,omitempty"`
	Dport *uint16 `json:"dport,omitempty"`
	Type  *uint8  `json:"type,omitempty"` // ICMP
	Code  *uint8  `json:"code,omitempty"`
	ID    *uint16 `json:"id,omitempty"`
	Zone  *uint16 `json:"zone,omitempty"` // directional zone (CTA_TUPLE_ZONE)
	// Protocol is set on a master tuple only, whose protocol may differ
	// from the flow's.
	Protocol string `json:"protocol,omitempty"`
}

func ptr[T any](v T) *T { return &v }

func tupleJSON(t *ctnetlink.Tuple) TupleJSON {
	j := TupleJSON{Src: t.Src.String(), Dst: t.Dst.String()}
	switch l4 := ctnetlink.Layer4Of(t.Proto); {
	case l4 == ctnetlink.ICMPFields:
		j.Type, j.Code, j.ID = ptr(t.ICMPType), ptr(t.ICMPCode), ptr(t.ICMPID)
	case l4.PortAttrs():
		j.Sport, j.Dport = ptr(t.SrcPort), ptr(t.DstPort)
	}
	if t.HasZone {
		j.Zone = ptr(t.Zone)
	}
	return j
}

func (j *TupleJSON) tuple(proto uint8) (ctnetlink.Tuple, error) {
	t := ctnetlink.Tuple{Proto: proto}
	var err error
	if t.Src, err = ctnetlink.ParseAddr(j.Src); err != nil {
		return t, fmt.Errorf("src: %w", err)
	}
	if t.Dst, err = ctnetlink.ParseAddr(j.Dst); err != nil {
		return t, fmt.Errorf("dst: %w", err)
	}
	if t.Src.Is4() != t.Dst.Is4() {
		return t, fmt.Errorf("src %s and dst %s mix IPv4 and IPv6", j.Src, j.Dst)
	}
	switch l4 := ctnetlink.Layer4Of(proto); {
	case l4 == ctnetlink.ICMPFields:
		if j.Type == nil || j.Code == nil || j.ID == nil {
			return t, fmt.Errorf("%s tuple needs type, code and id", ctnl.ProtoName(proto))
		}
		t.ICMPType, t.ICMPCode, t.ICMPID = *j.Type, *j.Code, *j.ID
	case l4.PortAttrs():
		if j.Sport == nil || j.Dport == nil {
			return t, fmt.Errorf("%s tuple needs sport and dport", ctnl.ProtoName(proto))
		}
		t.SrcPort, t.DstPort = *j.Sport, *j.Dport
	}
	if j.Zone != nil {
		t.Zone, t.HasZone = *j.Zone, true
	}
	return t, nil
}

// TCPJSON is TCP protocol detail beyond the state.
type TCPJSON struct {
	WScaleOriginal *uint8 `json:"wscale_original,omitempty"`
	WScaleReply    *uint8 `json:"wscale_reply,omitempty"`
	FlagsOriginal  *uint8 `json:"flags_original,omitempty"`
	FlagsReply     *uint8 `json:"flags_reply,omitempty"`
}

// SCTPJSON is SCTP protocol detail.
type SCTPJSON struct {
	VTagOriginal uint32 `json:"vtag_original"`
	VTagReply    uint32 `json:"vtag_reply"`
}

// CountersJSON is one direction's accounting.
type CountersJSON struct {
	Packets uint64 `json:"packets"`
	Bytes   uint64 `json:"bytes"`
}

// FlowJSON is a conntrack in `ct list -o json`, `ct watch -o json` and the
// "conntracks" of a save file. Fields marked read-only in docs/json.md are
// ignored by restore.
type FlowJSON struct {
	Event      string     `json:"event,omitempty"`
	PortID     uint32     `json:"portid,omitempty"` // events: the requester's netlink port
	Family     string     `json:"family"`
	Protocol   string     `json:"protocol"`
	ProtoNum   uint8      `json:"protonum"`
	Original   TupleJSON  `json:"original"`
	Reply      TupleJSON  `json:"reply"`
	Master     *TupleJSON `json:"master,omitempty"`
	Zone       *uint16    `json:"zone,omitempty"`
	Status     []string   `json:"status"`
	Timeout    *uint32    `json:"timeout,omitempty"`
	State      string     `json:"state,omitempty"`
	TCP        *TCPJSON   `json:"tcp,omitempty"`
	SCTP       *SCTPJSON  `json:"sctp,omitempty"`
	Mark       uint32     `json:"mark"`
	Helper     string     `json:"helper,omitempty"`
	HelperInfo string     `json:"helper_info,omitempty"` // hex
	Labels     []int      `json:"labels,omitempty"`      // bit numbers
	Secctx     string     `json:"secctx,omitempty"`
	// Read-only: the kernel assigns or counts these.
	ID       *uint32                 `json:"id,omitempty"`
	Use      *uint32                 `json:"use,omitempty"`
	Counters map[string]CountersJSON `json:"counters,omitempty"`
	Start    *uint64                 `json:"timestamp_start,omitempty"`
	Stop     *uint64                 `json:"timestamp_stop,omitempty"`
}

// JSON converts the flow to its JSON form.
func (f *Flow) JSON() FlowJSON {
	j := FlowJSON{
		Family:   ctnl.L3Name(f.Family),
		Protocol: ctnl.ProtoName(f.Proto()),
		ProtoNum: f.Proto(),
		Original: tupleJSON(&f.Orig),
		Reply:    tupleJSON(&f.Reply),
		Status:   f.Status.Names(),
		Mark:     f.Mark,
		Helper:   f.Helper(),
		Secctx:   f.Secctx,
		PortID:   f.PortID,
	}
	if j.Status == nil {
		j.Status = []string{}
	}
	if f.Has(HasMaster) {
		m := tupleJSON(&f.Master)
		m.Protocol = ctnl.ProtoName(f.Master.Proto)
		j.Master = &m
	}
	if f.Has(HasZone) {
		j.Zone = ptr(f.Zone)
	}
	if f.Has(HasTimeout) {
		j.Timeout = ptr(f.Timeout)
	}
	j.State = f.StateName()
	if f.Proto() == unix.IPPROTO_TCP && f.Set&(HasTCPWScale|HasTCPFlags) != 0 {
		j.TCP = &TCPJSON{}
		if f.Has(HasTCPWScale) {
			j.TCP.WScaleOriginal, j.TCP.WScaleReply = ptr(f.TCPWScaleOrig), ptr(f.TCPWScaleReply)
		}
		if f.Has(HasTCPFlags) {
			j.TCP.FlagsOriginal, j.TCP.FlagsReply = ptr(f.TCPFlagsOrig), ptr(f.TCPFlagsReply)
		}
	}
	if f.Has(HasSCTPVTags) {
		j.SCTP = &SCTPJSON{VTagOriginal: f.SCTPVTagOrig, VTagReply: f.SCTPVTagRe}
	}
	if f.Has(HasHelperInfo) {
		j.HelperInfo = hex.EncodeToString(f.HelperInfo())
	}
	if f.Has(HasLabels) {
		for i := 0; i < LabelsLen*8; i++ {
			if f.Labels[i/8]&(1<<(i%8)) != 0 {
				j.Labels = append(j.Labels, i)
			}
		}
	}
	if f.Has(HasID) {
		j.ID = ptr(f.ID)
	}
	if f.Has(HasUse) {
		j.Use = ptr(f.Use)
	}
	if f.Has(HasCounters) {
		j.Counters = map[string]CountersJSON{
			"original": {f.OrigPackets, f.OrigBytes},
			"reply":    {f.ReplyPackets, f.ReplyBytes},
		}
	}
	if f.Has(HasTimestamp) {
		j.Start = ptr(f.Start)
		if f.Stop != 0 {
			j.Stop = ptr(f.Stop)
		}
	}
	return j
}

// MarshalJSON writes the JSON form.
func (f *Flow) MarshalJSON() ([]byte, error) { return json.Marshal(f.JSON()) }

// Flow converts the JSON form back, checking every field. Read-only fields
// (id, use, counters, timestamps) are not carried over.
func (j *FlowJSON) Flow() (Flow, error) {
	var f Flow
	switch j.Family {
	case "ipv4", "inet":
		f.Family = unix.AF_INET
	case "ipv6", "inet6":
		f.Family = unix.AF_INET6
	default:
		return f, fmt.Errorf("family %q: want ipv4 or ipv6", j.Family)
	}
	proto := j.ProtoNum
	if j.Protocol != "" && j.Protocol != "unknown" {
		p, err := ctnl.ParseProto(j.Protocol)
		if err != nil {
			return f, err
		}
		if proto != 0 && proto != p {
			return f, fmt.Errorf("protocol %q does not match protonum %d", j.Protocol, proto)
		}
		proto = p
	}
	if proto == 0 {
		return f, fmt.Errorf("no protocol")
	}
	var err error
	if f.Orig, err = j.Original.tuple(proto); err != nil {
		return f, fmt.Errorf("original: %w", err)
	}
	if f.Reply, err = j.Reply.tuple(proto); err != nil {
		return f, fmt.Errorf("reply: %w", err)
	}
	if (f.Orig.Family() == unix.AF_INET6) != (f.Family == unix.AF_INET6) || f.Orig.Family() != f.Reply.Family() {
		return f, fmt.Errorf("addresses do not match family %s", j.Family)
	}
	if j.Master != nil {
		mp := proto
		if j.Master.Protocol != "" {
			if mp, err = ctnl.ParseProto(j.Master.Protocol); err != nil {
				return f, fmt.Errorf("master: %w", err)
			}
		}
		if f.Master, err = j.Master.tuple(mp); err != nil {
			return f, fmt.Errorf("master: %w", err)
		}
		f.Set |= HasMaster
	}
	if j.Zone != nil {
		f.Zone, f.Set = *j.Zone, f.Set|HasZone
	}
	st, err := ParseStatus(strings.Join(j.Status, ","))
	if err != nil {
		return f, err
	}
	f.Status, f.Set = st, f.Set|HasStatus
	if j.Timeout == nil {
		return f, fmt.Errorf("no timeout")
	}
	f.Timeout, f.Set = *j.Timeout, f.Set|HasTimeout
	if j.State != "" {
		if f.State, err = ParseState(proto, j.State); err != nil {
			return f, err
		}
		f.Set |= HasState
	}
	if j.TCP != nil {
		if j.TCP.WScaleOriginal != nil && j.TCP.WScaleReply != nil {
			f.TCPWScaleOrig, f.TCPWScaleReply, f.Set = *j.TCP.WScaleOriginal, *j.TCP.WScaleReply, f.Set|HasTCPWScale
		}
		if j.TCP.FlagsOriginal != nil && j.TCP.FlagsReply != nil {
			f.TCPFlagsOrig, f.TCPFlagsReply, f.Set = *j.TCP.FlagsOriginal, *j.TCP.FlagsReply, f.Set|HasTCPFlags
		}
	}
	if j.SCTP != nil {
		f.SCTPVTagOrig, f.SCTPVTagRe, f.Set = j.SCTP.VTagOriginal, j.SCTP.VTagReply, f.Set|HasSCTPVTags
	}
	f.Mark, f.Set = j.Mark, f.Set|HasMark
	if j.Helper != "" {
		if err := f.SetHelper(j.Helper); err != nil {
			return f, err
		}
	}
	if j.HelperInfo != "" {
		if j.Helper == "" {
			return f, fmt.Errorf("helper_info without helper")
		}
		b, err := hex.DecodeString(j.HelperInfo)
		if err != nil {
			return f, fmt.Errorf("helper_info %q: not hex", j.HelperInfo)
		}
		if err := f.SetHelperInfo(b); err != nil {
			return f, err
		}
	}
	if len(j.Labels) > 0 {
		for _, l := range j.Labels {
			if l < 0 || l >= LabelsLen*8 {
				return f, fmt.Errorf("label bit %d: want 0 to %d", l, LabelsLen*8-1)
			}
			f.Labels[l/8] |= 1 << (l % 8)
		}
		f.Set |= HasLabels
	}
	return f, nil
}

// SameState compares the fields a save file carries (everything but the
// read-only fields and the ticking timeout), for failover checks.
func SameState(a, b *Flow) string {
	ja, jb := a.JSON(), b.JSON()
	for _, j := range []*FlowJSON{&ja, &jb} {
		j.ID, j.Use, j.Counters, j.Start, j.Stop, j.Timeout = nil, nil, nil, nil, nil, nil
		j.Status = slices.DeleteFunc(j.Status, func(s string) bool { return s == "HELPER" })
	}
	x, _ := json.Marshal(ja)
	y, _ := json.Marshal(jb)
	if string(x) != string(y) {
		return fmt.Sprintf("%s\n!=\n%s", x, y)
	}
	return ""
}
