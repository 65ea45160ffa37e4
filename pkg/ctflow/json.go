package ctflow

import (
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/gonfct/gonfct/pkg/ctnetlink"
	"github.com/gonfct/gonfct/pkg/ctnl"
	"golang.org/x/sys/unix"
)

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

// FlowJSON is a conntrack as AppendJSON writes it (`ct list -o json`, `ct
// watch -o json`, the "conntracks" of a save file), for reading it back.
// Fields marked read-only in docs/json.md are ignored by restore.
type FlowJSON struct {
	Event      string               `json:"event,omitempty"`
	PortID     uint32               `json:"portid,omitempty"` // events: the requester's netlink port
	Family     string               `json:"family"`
	Protocol   string               `json:"protocol"`
	ProtoNum   uint8                `json:"protonum"`
	Original   ctnetlink.TupleJSON  `json:"original"`
	Reply      ctnetlink.TupleJSON  `json:"reply"`
	Master     *ctnetlink.TupleJSON `json:"master,omitempty"`
	Zone       *uint16              `json:"zone,omitempty"`
	Status     []string             `json:"status"`
	Timeout    *uint32              `json:"timeout,omitempty"`
	State      string               `json:"state,omitempty"`
	TCP        *TCPJSON             `json:"tcp,omitempty"`
	SCTP       *SCTPJSON            `json:"sctp,omitempty"`
	Mark       uint32               `json:"mark"`
	Helper     string               `json:"helper,omitempty"`
	HelperInfo string               `json:"helper_info,omitempty"` // hex
	Labels     []int                `json:"labels,omitempty"`      // bit numbers
	Secctx     string               `json:"secctx,omitempty"`
	// Read-only: the kernel assigns or counts these.
	ID       *uint32                 `json:"id,omitempty"`
	Use      *uint32                 `json:"use,omitempty"`
	Counters map[string]CountersJSON `json:"counters,omitempty"`
	Start    *uint64                 `json:"timestamp_start,omitempty"`
	Stop     *uint64                 `json:"timestamp_stop,omitempty"`
}

// MarshalJSON writes the JSON form (AppendJSON).
func (f *Flow) MarshalJSON() ([]byte, error) { return f.AppendJSON(nil), nil }

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
	if f.Orig, err = j.Original.Tuple(proto); err != nil {
		return f, fmt.Errorf("original: %w", err)
	}
	if f.Reply, err = j.Reply.Tuple(proto); err != nil {
		return f, fmt.Errorf("reply: %w", err)
	}
	if f.Orig.Proto != proto || f.Reply.Proto != proto {
		return f, fmt.Errorf("the tuples name another protocol than %s", ctnl.ProtoName(proto))
	}
	if (f.Orig.Family() == unix.AF_INET6) != (f.Family == unix.AF_INET6) || f.Orig.Family() != f.Reply.Family() {
		return f, fmt.Errorf("addresses do not match family %s", j.Family)
	}
	if j.Master != nil {
		if f.Master, err = j.Master.Tuple(proto); err != nil {
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
// read-only fields and the ticking timeout), for failover checks: "" if
// they agree, else both JSON forms.
func SameState(a, b *Flow) string {
	x, y := stateJSON(a), stateJSON(b)
	if string(x) != string(y) {
		return fmt.Sprintf("%s\n!=\n%s", x, y)
	}
	return ""
}

func stateJSON(f *Flow) []byte {
	c := *f
	c.Set &^= HasID | HasUse | HasCounters | HasTimestamp | HasTimeout
	c.Status &^= StatusHelper // the kernel sets it with the helper
	c.PortID = 0
	return c.AppendJSON(nil)
}
