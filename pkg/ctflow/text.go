package ctflow

import (
	"encoding/hex"
	"strconv"
	"time"

	"github.com/gonfct/gonfct/pkg/ctnetlink"
	"github.com/gonfct/gonfct/pkg/ctnl"
	"golang.org/x/sys/unix"
)

// l4Names are libnetfilter_conntrack's protocol names (proto2str): others
// print as "unknown".
var l4Names = [256]string{
	unix.IPPROTO_TCP: "tcp", unix.IPPROTO_UDP: "udp", unix.IPPROTO_UDPLITE: "udplite",
	unix.IPPROTO_ICMP: "icmp", unix.IPPROTO_ICMPV6: "icmpv6", unix.IPPROTO_SCTP: "sctp",
	unix.IPPROTO_GRE: "gre", unix.IPPROTO_DCCP: "dccp",
}

// AppendText appends the flow as conntrack(8) prints it by default
// (libnetfilter_conntrack's snprintf_default without layer-3 or id), with a
// newline. Fields print only when the kernel sent them, as there.
func (f *Flow) AppendText(b []byte) []byte { return f.appendLine(b, false, nil) }

// TextOptions are conntrack -o's additions to the text line; the zero
// value is the default line.
type TextOptions struct {
	Extended   bool // layer 3 first: "ipv4     2 " (-o extended)
	ID         bool // "id=N" after use= (-o id)
	KTimestamp bool // "[start=DATE] [stop=DATE]" after delta-time= (-o ktimestamp)
	Labels     bool // "labels=NAME,..." at the end (-o labels), names from LabelNames
	// LabelNames name label bits (connlabel.conf); conntrack prints the
	// named bits of a conntrack only, and nothing without names.
	LabelNames map[int]string
	// Timestamp prefixes events with the time they were read,
	// "[SECONDS.MICROSECONDS]\t" (-o timestamp); Now gives it.
	Timestamp bool
	Now       func() time.Time
}

// AppendTextWith is AppendText with conntrack -o's additions.
func (f *Flow) AppendTextWith(b []byte, o *TextOptions) []byte { return f.appendLine(b, false, o) }

// AppendEventWith is AppendEvent with conntrack -o's additions.
func (f *Flow) AppendEventWith(b []byte, t ctnetlink.EventType, resync bool, o *TextOptions) []byte {
	if o != nil && o.Timestamp {
		now := time.Now()
		if o.Now != nil {
			now = o.Now()
		}
		b = append(b, '[')
		b = strconv.AppendInt(b, now.Unix(), 10)
		b = append(b, '.')
		us := now.Nanosecond() / 1000
		for d := 100000; d > 1 && us < d; d /= 10 {
			b = append(b, '0')
		}
		b = strconv.AppendInt(b, int64(us), 10)
		b = append(b, "]\t"...)
	}
	return f.appendLine(ctnetlink.AppendEventPrefix(b, t, resync), !resync, o)
}

// l3Names are the layer-3 names of -o extended, padded as conntrack pads them.
func appendL3(b []byte, family uint8) []byte {
	name := "unknown"
	switch family {
	case unix.AF_INET:
		name = "ipv4"
	case unix.AF_INET6:
		name = "ipv6"
	}
	b = append(b, name...)
	for i := len(name); i < 8; i++ {
		b = append(b, ' ')
	}
	b = append(b, ' ')
	b = strconv.AppendUint(b, uint64(family), 10)
	return append(b, ' ')
}

// ktimeLayout is ctime(3)'s date, as conntrack prints kernel timestamps.
const ktimeLayout = "Mon Jan _2 15:04:05 2006"

func appendKTime(b []byte, what string, ns uint64) []byte {
	b = append(b, '[')
	b = append(b, what...)
	b = append(b, '=')
	b = time.Unix(0, int64(ns)).AppendFormat(b, ktimeLayout)
	return append(b, "] "...)
}

// AppendEvent appends an event line as conntrack -E prints it: the event
// column ("    [NEW] ", " [UPDATE] ", "[DESTROY] "; " [RESYNC] " for an
// entry a resync read again), then the flow, then, for a change user space
// made, "[USERSPACE] portid=N progname=P".
func (f *Flow) AppendEvent(b []byte, t ctnetlink.EventType, resync bool) []byte {
	return f.appendLine(ctnetlink.AppendEventPrefix(b, t, resync), !resync, nil)
}

func (f *Flow) appendLine(b []byte, event bool, o *TextOptions) []byte {
	if o == nil {
		o = &TextOptions{}
	}
	if o.Extended {
		b = appendL3(b, f.Family)
	}
	p := f.Proto()
	name := l4Names[p]
	if name == "" {
		name = "unknown"
	}
	b = append(b, name...)
	for i := len(name); i < 8; i++ {
		b = append(b, ' ')
	}
	b = append(b, ' ')
	b = strconv.AppendUint(b, uint64(p), 10)
	b = append(b, ' ')
	if f.Has(HasTimeout) {
		b = strconv.AppendUint(b, uint64(f.Timeout), 10)
		b = append(b, ' ')
	}
	if f.Has(HasState) {
		b = append(b, f.StateName()...)
		b = append(b, ' ')
	}
	b = f.Orig.AppendText(b)
	if f.Orig.HasZone {
		b = append(b, "zone-orig="...)
		b = strconv.AppendUint(b, uint64(f.Orig.Zone), 10)
		b = append(b, ' ')
	}
	if f.Has(HasCounters) {
		b = appendCounters(b, f.OrigPackets, f.OrigBytes)
	}
	if f.Has(HasStatus) && f.Status&StatusSeenReply == 0 {
		b = append(b, "[UNREPLIED] "...)
	}
	b = f.Reply.AppendText(b)
	if f.Reply.HasZone {
		b = append(b, "zone-reply="...)
		b = strconv.AppendUint(b, uint64(f.Reply.Zone), 10)
		b = append(b, ' ')
	}
	if f.Has(HasCounters) {
		b = appendCounters(b, f.ReplyPackets, f.ReplyBytes)
	}
	if f.Has(HasStatus) {
		switch {
		case f.Status&StatusHWOffload != 0:
			b = append(b, "[HW_OFFLOAD] "...)
		case f.Status&StatusOffload != 0:
			b = append(b, "[OFFLOAD] "...)
		case f.Status&StatusAssured != 0:
			b = append(b, "[ASSURED] "...)
		}
	}
	if f.Has(HasMark) {
		b = append(b, "mark="...)
		b = strconv.AppendUint(b, uint64(f.Mark), 10)
		b = append(b, ' ')
	}
	if f.Has(HasSecctx) {
		b = append(b, "secctx="...)
		b = append(b, f.Secctx...)
		b = append(b, ' ')
	}
	if f.Has(HasZone) {
		b = append(b, "zone="...)
		b = strconv.AppendUint(b, uint64(f.Zone), 10)
		b = append(b, ' ')
	}
	if f.Has(HasTimestamp) && f.Start != 0 {
		stop := time.Now().Unix()
		if f.Stop != 0 {
			stop = int64(f.Stop / 1e9)
		}
		b = append(b, "delta-time="...)
		b = strconv.AppendInt(b, stop-int64(f.Start/1e9), 10)
		b = append(b, ' ')
		if o.KTimestamp {
			b = appendKTime(b, "start", f.Start)
			if f.Stop != 0 {
				b = appendKTime(b, "stop", f.Stop)
			}
		}
	}
	if f.Has(HasHelper) {
		b = append(b, "helper="...)
		b = append(b, f.HelperBytes()...)
		b = append(b, ' ')
	}
	if f.Has(HasUse) {
		b = append(b, "use="...)
		b = strconv.AppendUint(b, uint64(f.Use), 10)
		b = append(b, ' ')
	}
	if o.ID && f.Has(HasID) {
		b = append(b, "id="...)
		b = strconv.AppendUint(b, uint64(f.ID), 10)
		b = append(b, ' ')
	}
	if o.Labels && f.Has(HasLabels) {
		b = f.appendLabelNames(b, o.LabelNames)
	}
	if f.PortID != 0 && event {
		// conntrack -E names the process behind a user-space change.
		b = append(b, "[USERSPACE] portid="...)
		b = strconv.AppendUint(b, uint64(f.PortID), 10)
		b = append(b, ' ')
		if name := progName(f.PortID); name != "" {
			b = append(b, "progname="...)
			b = append(b, name...)
			b = append(b, ' ')
		}
	}
	b[len(b)-1] = '\n' // the last blank becomes the line end
	return b
}

func appendCounters(b []byte, packets, bytes uint64) []byte {
	b = append(b, "packets="...)
	b = strconv.AppendUint(b, packets, 10)
	b = append(b, " bytes="...)
	b = strconv.AppendUint(b, bytes, 10)
	return append(b, ' ')
}

// Columns head the table format.
var Columns = []string{"PROTO", "TIMEOUT", "STATE", "ORIGINAL", "REPLY", "STATUS", "MARK", "ZONE", "HELPER", "HELPER-INFO"}

// Row is the flow's cells for the table format.
func (f *Flow) Row() []string {
	orig := f.Orig.AppendText(nil)
	reply := f.Reply.AppendText(nil)
	zone := ""
	if f.Has(HasZone) {
		zone = strconv.Itoa(int(f.Zone))
	}
	timeout := ""
	if f.Has(HasTimeout) {
		timeout = strconv.FormatUint(uint64(f.Timeout), 10)
	}
	return []string{
		ctnl.ProtoName(f.Proto()), timeout, f.StateName(),
		string(orig[:len(orig)-1]), string(reply[:len(reply)-1]),
		f.Status.String(), strconv.FormatUint(uint64(f.Mark), 10), zone,
		f.Helper(), hex.EncodeToString(f.HelperInfo()),
	}
}
