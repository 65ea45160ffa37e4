package expect

import (
	"net/netip"
	"testing"

	"github.com/gonfct/gonfct/pkg/ctnetlink"
	"github.com/gonfct/gonfct/pkg/ctnl"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/mdlayher/netlink"
	"github.com/ti-mo/conntrack"
	"github.com/ti-mo/netfilter"
)

var a = netip.MustParseAddr

func ftpExpectation() Expectation {
	tu := ctnetlink.Tuple{Src: a("10.0.0.2"), Dst: a("10.0.0.1"), Proto: 6, DstPort: 50000}
	m := ExactMask(tu)
	m.SrcPort = 0
	return Expectation{
		Family:  2,
		Tuple:   tu,
		Mask:    m,
		Master:  ctnetlink.Tuple{Src: a("10.0.0.1"), Dst: a("10.0.0.2"), Proto: 6, SrcPort: 40000, DstPort: 21},
		Timeout: 300, ID: 0xdeadbeef, Flags: Permanent | Inactive, Class: 1, Helper: "ftp",
		Zone: 7, HasZone: true,
		NAT: NAT{Set: true, Dir: 1, Tuple: ctnetlink.Tuple{Src: a("192.0.2.1"), Dst: a("0.0.0.0"), Proto: 6, SrcPort: 1234}},
		Fn:  "nat-follow-master",
	}
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
	v6 := ctnetlink.Tuple{Src: a("fd00::2"), Dst: a("fd00::1"), Proto: 17, SrcPort: 0, DstPort: 5004}
	tests := []struct {
		name string
		in   Expectation
		want Expectation // after decode; zero means equal to in
	}{
		{name: "all fields", in: ftpExpectation()},
		{name: "ipv6 with default mask", in: Expectation{Family: 10, Tuple: v6,
			Master: ctnetlink.Tuple{Src: a("fd00::1"), Dst: a("fd00::2"), Proto: 17, SrcPort: 5060, DstPort: 5060}},
			want: Expectation{Family: 10, Tuple: v6, Mask: ExactMask(v6),
				Master: ctnetlink.Tuple{Src: a("fd00::1"), Dst: a("fd00::2"), Proto: 17, SrcPort: 5060, DstPort: 5060}}},
		{name: "no master (NFQA_EXP)", in: Expectation{Family: 2, Tuple: ftpExpectation().Tuple, Mask: ftpExpectation().Mask, Flags: Permanent}},
		{name: "icmp", in: Expectation{Family: 2, Tuple: ctnetlink.Tuple{Src: a("1.1.1.1"), Dst: a("2.2.2.2"), Proto: 1, ICMPType: 8, ICMPID: 9},
			Mask: ExactMask(ctnetlink.Tuple{Src: a("1.1.1.1"), Dst: a("2.2.2.2"), Proto: 1}), Master: ftpExpectation().Master}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			enc := ctnl.NewEncoder(nil)
			tt.in.Encode(enc)
			got, err := Decode(enc.Bytes())
			if err != nil {
				t.Fatal(err)
			}
			want := tt.want
			if want.Family == 0 {
				want = tt.in
			}
			if diff := cmp.Diff(want, got, cmpopts.EquateComparable(netip.Addr{})); diff != "" {
				t.Errorf("round trip (-want +got):\n%s", diff)
			}
		})
	}
}

// ti-mo/conntrack decodes our encoding to the same expectation: an
// independent reading of the CTA_EXPECT_* layout.
func TestEncodingMatchesTiMoConntrack(t *testing.T) {
	in := ftpExpectation()
	enc := ctnl.NewEncoder(nil)
	in.Encode(enc)
	msg := netlink.Message{
		Header: netlink.Header{Type: netlink.HeaderType(uint16(netfilter.NFSubsysCTNetlinkExp)<<8 | ctnetlink.MsgExpNew)},
		Data:   append([]byte{2, 0, 0, 0}, enc.Bytes()...),
	}
	var ev conntrack.Event
	if err := ev.Unmarshal(msg); err != nil {
		t.Fatal(err)
	}
	x := ev.Expect
	if x == nil {
		t.Fatal("ti-mo decoded no expectation")
	}
	checks := []struct {
		what      string
		got, want any
	}{
		{"tuple src", x.Tuple.IP.SourceAddress, in.Tuple.Src},
		{"tuple dport", x.Tuple.Proto.DestinationPort, in.Tuple.DstPort},
		{"mask src", x.Mask.IP.SourceAddress, in.Mask.Src},
		{"mask dport", x.Mask.Proto.DestinationPort, in.Mask.DstPort},
		{"master sport", x.TupleMaster.Proto.SourcePort, in.Master.SrcPort},
		{"timeout", x.Timeout, in.Timeout},
		{"id", x.ID, in.ID},
		{"flags", x.Flags, uint32(in.Flags)},
		{"class", x.Class, in.Class},
		{"helper", x.HelpName, in.Helper},
		{"zone", x.Zone, in.Zone},
		{"expectfn", x.Function, in.Fn},
		{"nat dir", x.NAT.Direction, in.NAT.Dir == 1},
		{"nat src", x.NAT.Tuple.IP.SourceAddress, in.NAT.Tuple.Src},
		{"nat sport", x.NAT.Tuple.Proto.SourcePort, in.NAT.Tuple.SrcPort},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: ti-mo read %v, want %v", c.what, c.got, c.want)
		}
	}
}

// Strings go out NUL-terminated: the kernel's NLA_NUL_STRING policy for
// CTA_EXPECT_HELP_NAME and CTA_EXPECT_FN answers EINVAL otherwise.
func TestEncodeNULTerminatedNames(t *testing.T) {
	e := Expectation{Tuple: ftpExpectation().Tuple, Helper: "ftp", Fn: "nat-follow-master"}
	enc := ctnl.NewEncoder(nil)
	e.Encode(enc)
	s := ctnl.NewScanner(enc.Bytes())
	seen := 0
	for s.Next() {
		if s.Type() == ctnetlink.AttrExpectHelpName || s.Type() == ctnetlink.AttrExpectFn {
			d := s.Data()
			if len(d) == 0 || d[len(d)-1] != 0 {
				t.Errorf("attribute %d = %q, want a trailing NUL", s.Type(), d)
			}
			seen++
		}
	}
	if seen != 2 {
		t.Fatalf("saw %d name attributes, want 2", seen)
	}
}

// Golden bytes: the expected tuple of ftpExpectation as ctnetlink nests it.
func TestEncodeGoldenTuple(t *testing.T) {
	e := Expectation{Tuple: ctnetlink.Tuple{Src: a("10.0.0.2"), Dst: a("10.0.0.1"), Proto: 6, DstPort: 50000}}
	enc := ctnl.NewEncoder(nil)
	e.Encode(enc)
	want := []byte{
		0x34, 0x00, 0x02, 0x80, // CTA_EXPECT_TUPLE, nested, 52 bytes
		0x14, 0x00, 0x01, 0x80, // CTA_TUPLE_IP
		0x08, 0x00, 0x01, 0x00, 10, 0, 0, 2, // CTA_IP_V4_SRC
		0x08, 0x00, 0x02, 0x00, 10, 0, 0, 1, // CTA_IP_V4_DST
		0x1c, 0x00, 0x02, 0x80, // CTA_TUPLE_PROTO
		0x05, 0x00, 0x01, 0x00, 6, 0, 0, 0, // CTA_PROTO_NUM
		0x06, 0x00, 0x02, 0x00, 0, 0, 0, 0, // CTA_PROTO_SRC_PORT 0
		0x06, 0x00, 0x03, 0x00, 0xc3, 0x50, 0, 0, // CTA_PROTO_DST_PORT 50000
	}
	got := enc.Bytes()[:len(want)]
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("tuple bytes (-want +got):\n%s", diff)
	}
}

func TestDecodeMalformed(t *testing.T) {
	for _, b := range [][]byte{
		{0x03, 0x00},
		{0x08, 0x00, 0x02, 0x80, 0x04, 0x00, 0x01},
		{0x0c, 0x00, 0x02, 0x80, 0x08, 0x00, 0x01, 0x80, 0x08, 0x00, 0x01, 0x00}, // IPv4 src cut short
	} {
		if _, err := Decode(b); err == nil {
			t.Errorf("Decode(% x) succeeded, want an error", b)
		}
	}
}

// The list path decodes and formats without allocating once the helper
// name is known.
func TestDecodeFormatAllocs(t *testing.T) {
	in := ftpExpectation()
	enc := ctnl.NewEncoder(nil)
	in.Encode(enc)
	var (
		d   Decoder
		e   Expectation
		buf = make([]byte, 0, 512)
	)
	allocs := testing.AllocsPerRun(100, func() {
		if err := d.Decode(enc.Bytes(), &e); err != nil {
			t.Fatal(err)
		}
		buf = e.AppendText(buf[:0])
	})
	if allocs != 0 {
		t.Errorf("decode + format allocate %.1f times per expectation, want 0", allocs)
	}
}

func BenchmarkDecodeAppendText(b *testing.B) {
	in := ftpExpectation()
	enc := ctnl.NewEncoder(nil)
	in.Encode(enc)
	var (
		d   Decoder
		e   Expectation
		buf = make([]byte, 0, 512)
	)
	b.ReportAllocs()
	for b.Loop() {
		_ = d.Decode(enc.Bytes(), &e)
		buf = e.AppendText(buf[:0])
	}
}

func FuzzDecode(f *testing.F) {
	in := ftpExpectation()
	enc := ctnl.NewEncoder(nil)
	in.Encode(enc)
	f.Add(enc.Bytes())
	f.Add([]byte{0x04, 0x00, 0x01, 0x80})
	f.Fuzz(func(t *testing.T, b []byte) {
		var d Decoder
		var e Expectation
		if d.Decode(b, &e) == nil {
			_ = e.AppendText(nil)
			_ = e.AppendJSON(nil)
		}
	})
}
