package expect

import (
	"testing"

	"github.com/gonfct/gonfct/pkg/ctnetlink"
)

// Lines printed by conntrack v1.4.7 (libnetfilter_conntrack 1.0.9) for
// expectations made on this project's test kernel.
func TestAppendTextMatchesConntrack(t *testing.T) {
	ftp := ftpExpectation()
	ftp.HasZone = false // kernel dumps carry no zone
	ftp.Class = 0
	plain := ftp
	plain.Flags = 0
	plain.Mask = ExactMask(plain.Tuple)
	plain.Mask.SrcPort = 0
	sip := Expectation{
		Timeout: 179,
		Tuple:   ctnetlink.Tuple{Src: a("10.0.0.3"), Dst: a("10.0.0.1"), Proto: 6, DstPort: 50004},
		Master:  ctnetlink.Tuple{Src: a("10.0.0.1"), Dst: a("10.0.0.3"), Proto: 6, SrcPort: 40000, DstPort: 5060},
		Class:   3, Helper: "sip",
	}
	sip.Mask = ExactMask(sip.Tuple)
	sip.Mask.SrcPort = 0
	noPorts := Expectation{
		Timeout: 300,
		Tuple:   ctnetlink.Tuple{Src: a("10.0.0.2"), Dst: a("10.0.0.1"), Proto: 195},
		Mask:    ctnetlink.Tuple{Src: a("255.255.255.255"), Dst: a("255.255.255.255"), Proto: 195},
		Master:  ctnetlink.Tuple{Src: a("10.0.0.1"), Dst: a("10.0.0.2"), Proto: 6, SrcPort: 40000, DstPort: 21},
		Helper:  "ftp",
	}
	v6 := Expectation{
		Timeout: 299, Flags: Permanent,
		Tuple:  ctnetlink.Tuple{Src: a("fd00::2"), Dst: a("fd00::1"), Proto: 17, DstPort: 5004},
		Master: ctnetlink.Tuple{Src: a("fd00::1"), Dst: a("fd00::2"), Proto: 17, SrcPort: 5060, DstPort: 5060},
		Helper: "sip", Class: 1,
	}
	v6.Mask = ExactMask(v6.Tuple)
	v6.Mask.Src = a("::")
	v6.Mask.SrcPort = 0
	zoned := plain
	zoned.HasZone, zoned.Zone = true, 7
	tests := []struct {
		name string
		e    Expectation
		ev   ctnetlink.EventType
		want string
	}{
		{"flags", ftp, 0, "300 proto=6 src=10.0.0.2 dst=10.0.0.1 sport=0 dport=50000 mask-src=255.255.255.255 mask-dst=255.255.255.255 sport=0 dport=65535 master-src=10.0.0.1 master-dst=10.0.0.2 sport=40000 dport=21 PERMANENT,INACTIVE class=0 helper=ftp"},
		{"plain", plain, 0, "300 proto=6 src=10.0.0.2 dst=10.0.0.1 sport=0 dport=50000 mask-src=255.255.255.255 mask-dst=255.255.255.255 sport=0 dport=65535 master-src=10.0.0.1 master-dst=10.0.0.2 sport=40000 dport=21 class=0 helper=ftp"},
		{"class", sip, 0, "179 proto=6 src=10.0.0.3 dst=10.0.0.1 sport=0 dport=50004 mask-src=255.255.255.255 mask-dst=255.255.255.255 sport=0 dport=65535 master-src=10.0.0.1 master-dst=10.0.0.3 sport=40000 dport=5060 class=3 helper=sip"},
		{"protocol without ports", noPorts, 0, "300 proto=195 src=10.0.0.2 dst=10.0.0.1 mask-src=255.255.255.255 mask-dst=255.255.255.255 master-src=10.0.0.1 master-dst=10.0.0.2 sport=40000 dport=21 class=0 helper=ftp"},
		{"ipv6", v6, 0, "299 proto=17 src=fd00::2 dst=fd00::1 sport=0 dport=5004 mask-src=:: mask-dst=ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff sport=0 dport=65535 master-src=fd00::1 master-dst=fd00::2 sport=5060 dport=5060 PERMANENT class=1 helper=sip"},
		{"zone", zoned, 0, "300 proto=6 src=10.0.0.2 dst=10.0.0.1 sport=0 dport=50000 mask-src=255.255.255.255 mask-dst=255.255.255.255 sport=0 dport=65535 master-src=10.0.0.1 master-dst=10.0.0.2 sport=40000 dport=21 zone=7 class=0 helper=ftp"},
		{"new event", plain, ctnetlink.EventNew, "    [NEW] 300 proto=6 src=10.0.0.2 dst=10.0.0.1 sport=0 dport=50000 mask-src=255.255.255.255 mask-dst=255.255.255.255 sport=0 dport=65535 master-src=10.0.0.1 master-dst=10.0.0.2 sport=40000 dport=21 class=0 helper=ftp"},
		{"destroy event", plain, ctnetlink.EventDestroy, "[DESTROY] 300 proto=6 src=10.0.0.2 dst=10.0.0.1 sport=0 dport=50000 mask-src=255.255.255.255 mask-dst=255.255.255.255 sport=0 dport=65535 master-src=10.0.0.1 master-dst=10.0.0.2 sport=40000 dport=21 class=0 helper=ftp"},
	}
	for _, tt := range tests {
		var got string
		if tt.ev != 0 {
			got = string(tt.e.AppendEvent(nil, tt.ev))
		} else {
			got = string(tt.e.AppendText(nil))
		}
		if got != tt.want+"\n" {
			t.Errorf("%s:\n got %s\nwant %s", tt.name, got, tt.want)
		}
	}
}

func TestAppendJSON(t *testing.T) {
	e := ftpExpectation()
	got := string(e.AppendJSON(nil))
	want := `{"family":"ipv4","proto":"tcp","proto_num":6,"timeout":300,"id":3735928559,` +
		`"tuple":{"proto":"tcp","src":"10.0.0.2","dst":"10.0.0.1","sport":0,"dport":50000},` +
		`"mask":{"src":"255.255.255.255","dst":"255.255.255.255","sport":0,"dport":65535},` +
		`"master":{"proto":"tcp","src":"10.0.0.1","dst":"10.0.0.2","sport":40000,"dport":21},` +
		`"flags":["permanent","inactive"],"class":1,"helper":"ftp","zone":7,` +
		`"nat":{"dir":"reply","src":"192.0.2.1","sport":1234},"expectfn":"nat-follow-master"}`
	if got != want {
		t.Errorf("JSON:\n got %s\nwant %s", got, want)
	}
}
