package ctflow

import (
	"encoding/hex"
	"strconv"

	"github.com/gonfct/gonfct/pkg/ctnetlink"
	"github.com/gonfct/gonfct/pkg/ctnl"
	"golang.org/x/sys/unix"
)

// AppendJSON appends the flow as one JSON object with the fields of
// docs/json.md ("ct"), written by hand as pkg/expect writes expectations:
// fields appear when the kernel sent them, as in the text format.
func (f *Flow) AppendJSON(b []byte) []byte {
	b = append(b, '{')
	if f.PortID != 0 {
		b = append(b, `"portid":`...)
		b = strconv.AppendUint(b, uint64(f.PortID), 10)
		b = append(b, ',')
	}
	p := f.Proto()
	b = append(b, `"family":"`...)
	b = append(b, ctnl.L3Name(f.Family)...)
	b = append(b, `","protocol":"`...)
	b = append(b, ctnl.ProtoName(p)...)
	b = append(b, `","protonum":`...)
	b = strconv.AppendUint(b, uint64(p), 10)
	b = append(b, `,"original":`...)
	b = f.Orig.AppendJSON(b, p, "")
	b = append(b, `,"reply":`...)
	b = f.Reply.AppendJSON(b, p, "")
	if f.Has(HasMaster) {
		// The master's protocol may differ from the flow's.
		b = append(b, `,"master":`...)
		b = f.Master.AppendJSON(b, f.Master.Proto, "protocol")
	}
	if f.Has(HasZone) {
		b = appendUintField(b, "zone", uint64(f.Zone))
	}
	b = append(b, `,"status":[`...)
	b = f.Status.appendJSON(b)
	b = append(b, ']')
	if f.Has(HasTimeout) {
		b = appendUintField(b, "timeout", uint64(f.Timeout))
	}
	if s := f.StateName(); s != "" {
		b = append(b, `,"state":"`...)
		b = append(b, s...)
		b = append(b, '"')
	}
	if p == unix.IPPROTO_TCP && f.Set&(HasTCPWScale|HasTCPFlags) != 0 {
		b = append(b, `,"tcp":{`...)
		sep := ""
		if f.Has(HasTCPWScale) {
			b = append(b, `"wscale_original":`...)
			b = strconv.AppendUint(b, uint64(f.TCPWScaleOrig), 10)
			b = appendUintField(b, "wscale_reply", uint64(f.TCPWScaleReply))
			sep = ","
		}
		if f.Has(HasTCPFlags) {
			b = append(b, sep...)
			b = append(b, `"flags_original":`...)
			b = strconv.AppendUint(b, uint64(f.TCPFlagsOrig), 10)
			b = appendUintField(b, "flags_reply", uint64(f.TCPFlagsReply))
		}
		b = append(b, '}')
	}
	if f.Has(HasSCTPVTags) {
		b = append(b, `,"sctp":{"vtag_original":`...)
		b = strconv.AppendUint(b, uint64(f.SCTPVTagOrig), 10)
		b = appendUintField(b, "vtag_reply", uint64(f.SCTPVTagRe))
		b = append(b, '}')
	}
	b = appendUintField(b, "mark", uint64(f.Mark))
	if f.helperLen > 0 {
		b = append(b, `,"helper":`...)
		b = ctnetlink.AppendJSONString(b, f.Helper())
	}
	if f.Has(HasHelperInfo) && f.infoLen > 0 {
		b = append(b, `,"helper_info":"`...)
		b = hex.AppendEncode(b, f.HelperInfo())
		b = append(b, '"')
	}
	if f.Has(HasLabels) && f.Labels != [LabelsLen]byte{} {
		b = append(b, `,"labels":[`...)
		sep := false
		for i := 0; i < LabelsLen*8; i++ {
			if f.Labels[i/8]&(1<<(i%8)) != 0 {
				if sep {
					b = append(b, ',')
				}
				b = strconv.AppendUint(b, uint64(i), 10)
				sep = true
			}
		}
		b = append(b, ']')
	}
	if f.Secctx != "" {
		b = append(b, `,"secctx":`...)
		b = ctnetlink.AppendJSONString(b, f.Secctx)
	}
	if f.Has(HasID) {
		b = appendUintField(b, "id", uint64(f.ID))
	}
	if f.Has(HasUse) {
		b = appendUintField(b, "use", uint64(f.Use))
	}
	if f.Has(HasCounters) {
		b = append(b, `,"counters":{"original":{"packets":`...)
		b = strconv.AppendUint(b, f.OrigPackets, 10)
		b = appendUintField(b, "bytes", f.OrigBytes)
		b = append(b, `},"reply":{"packets":`...)
		b = strconv.AppendUint(b, f.ReplyPackets, 10)
		b = appendUintField(b, "bytes", f.ReplyBytes)
		b = append(b, `}}`...)
	}
	if f.Has(HasTimestamp) {
		b = appendUintField(b, "timestamp_start", f.Start)
		if f.Stop != 0 {
			b = appendUintField(b, "timestamp_stop", f.Stop)
		}
	}
	return append(b, '}')
}

// appendUintField appends `,"key":n`.
func appendUintField(b []byte, key string, n uint64) []byte {
	b = append(b, `,"`...)
	b = append(b, key...)
	b = append(b, `":`...)
	return strconv.AppendUint(b, n, 10)
}

// appendJSON appends the set bits' names as JSON strings, lowest first.
func (s Status) appendJSON(b []byte) []byte {
	for i := 0; i < 32; i++ {
		if s&(1<<i) == 0 {
			continue
		}
		if b[len(b)-1] != '[' {
			b = append(b, ',')
		}
		b = append(b, '"')
		if i < len(statusNames) {
			b = append(b, statusNames[i]...)
		} else {
			b = append(b, "BIT"...)
			b = strconv.AppendInt(b, int64(i), 10)
		}
		b = append(b, '"')
	}
	return b
}
