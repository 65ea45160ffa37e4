package ctflow

import (
	"net/netip"
	"testing"
	"time"

	"github.com/gonfct/gonfct/pkg/ctnetlink"
	"golang.org/x/sys/unix"
)

// The lines conntrack 1.4.7 printed for this flow (-o save, -o
// extended,id,ktimestamp,labels; -E -o timestamp): the host tests compare
// with conntrack itself, these pin the format without a kernel.
func TestConntrackTextVariants(t *testing.T) {
	var f Flow
	f.Family = unix.AF_INET
	f.Orig = ctnetlink.Tuple{Src: netip.MustParseAddr("10.0.0.1"), Dst: netip.MustParseAddr("10.0.0.2"), Proto: 6, SrcPort: 40000, DstPort: 21}
	f.Reply = ctnetlink.Tuple{Src: f.Orig.Dst, Dst: f.Orig.Src, Proto: 6, SrcPort: 21, DstPort: 40000}
	f.Set = HasStatus | HasTimeout | HasMark | HasZone | HasState | HasUse | HasID | HasLabels
	f.Status, f.Timeout, f.Mark, f.Zone, f.State, f.Use, f.ID = StatusSeenReply|StatusAssured|StatusConfirmed, 499, 9, 4, 3, 1, 4094502140
	f.Labels[0] = 1<<1 | 1<<5
	f.Labels[12] = 1 << 4 // bit 100, unnamed
	_ = f.SetHelper("ftp")
	if got, want := string(f.AppendSave(nil)), "-A -t 499 -u SEEN_REPLY,ASSURED -w 4 -s 10.0.0.1 -d 10.0.0.2 -r 10.0.0.2 -q 10.0.0.1 -p tcp --sport 40000 --dport 21 --reply-port-src 21 --reply-port-dst 40000 --state ESTABLISHED\n"; got != want {
		t.Errorf("save\n got %q\nwant %q", got, want)
	}
	o := &TextOptions{Extended: true, ID: true, Labels: true, LabelNames: map[int]string{1: "one", 5: "five"}}
	if got, want := string(f.AppendTextWith(nil, o)), "ipv4     2 tcp      6 499 ESTABLISHED src=10.0.0.1 dst=10.0.0.2 sport=40000 dport=21 src=10.0.0.2 dst=10.0.0.1 sport=21 dport=40000 [ASSURED] mark=9 zone=4 helper=ftp use=1 id=4094502140 labels=one,five\n"; got != want {
		t.Errorf("extended,id,labels\n got %q\nwant %q", got, want)
	}
	o = &TextOptions{Timestamp: true, Now: func() time.Time { return time.Unix(1796456407, 98201000) }}
	f.Set &^= HasLabels | HasID | HasZone | HasHelper
	if got, want := string(f.AppendEventWith(nil, ctnetlink.EventNew, false, o)), "[1796456407.098201]\t    [NEW] tcp      6 499 ESTABLISHED src=10.0.0.1 dst=10.0.0.2 sport=40000 dport=21 src=10.0.0.2 dst=10.0.0.1 sport=21 dport=40000 [ASSURED] mark=9 use=1\n"; got != want {
		t.Errorf("event -o timestamp\n got %q\nwant %q", got, want)
	}
}
