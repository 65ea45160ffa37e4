package ctnetlink

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/gonfct/gonfct/pkg/ctnl"
	"github.com/google/go-cmp/cmp"
)

func TestParseTuple(t *testing.T) {
	a := netip.MustParseAddr
	tests := []struct {
		in      string
		want    Tuple
		wantErr string
	}{
		{in: "tcp 10.0.0.1 10.0.0.2 40000 21", want: Tuple{Src: a("10.0.0.1"), Dst: a("10.0.0.2"), Proto: 6, SrcPort: 40000, DstPort: 21}},
		{in: "proto=udp src=fd00::1 dst=fd00::2 sport=1 dport=69", want: Tuple{Src: a("fd00::1"), Dst: a("fd00::2"), Proto: 17, SrcPort: 1, DstPort: 69}},
		{in: "icmp 1.1.1.1 2.2.2.2 8 0 77", want: Tuple{Src: a("1.1.1.1"), Dst: a("2.2.2.2"), Proto: 1, ICMPType: 8, ICMPID: 77}},
		{in: "gre 1.1.1.1 2.2.2.2", want: Tuple{Src: a("1.1.1.1"), Dst: a("2.2.2.2"), Proto: 47}},
		{in: "tcp 10.0.0.1 10.0.0.2 40000", wantErr: "want PROTO SRC DST SPORT DPORT"},
		{in: "tcp 10.0.0.1 fd00::2 1 2", wantErr: "mixes IPv4 and IPv6"},
		{in: "tcp 10.0.0.1 10.0.0.2 1 70000", wantErr: "bad port"},
		{in: "foo 10.0.0.1 10.0.0.2 1 2", wantErr: "unknown protocol"},
		{in: "tcp 10.0.0.300 10.0.0.2 1 2", wantErr: "bad address"},
		{in: "proto=tcp src=1.1.1.1 dst=2.2.2.2", wantErr: "lacks sport"},
		{in: "proto=tcp src=1.1.1.1 bogus=1", wantErr: "unknown tuple key"},
	}
	for _, tt := range tests {
		got, err := ParseTuple(strings.Fields(tt.in))
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%q: error %v, want %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tt.in, err)
			continue
		}
		if d := cmp.Diff(tt.want, got, cmp.Comparer(func(x, y netip.Addr) bool { return x == y })); d != "" {
			t.Errorf("%q: (-want +got)\n%s", tt.in, d)
		}
	}
}

func TestTupleRoundTrip(t *testing.T) {
	for _, tu := range []Tuple{
		{Src: netip.MustParseAddr("10.0.0.1"), Dst: netip.MustParseAddr("10.0.0.2"), Proto: 6, SrcPort: 1234, DstPort: 21},
		{Src: netip.MustParseAddr("fd00::1"), Dst: netip.MustParseAddr("fd00::2"), Proto: 17, SrcPort: 5, DstPort: 69, Zone: 3, HasZone: true},
		{Src: netip.MustParseAddr("1.2.3.4"), Dst: netip.MustParseAddr("5.6.7.8"), Proto: 1, ICMPType: 8, ICMPID: 9},
		{Src: netip.MustParseAddr("1.2.3.4"), Dst: netip.MustParseAddr("5.6.7.8"), Proto: 47, SrcPort: 0x1234, DstPort: 0x5678}, // GRE keys
	} {
		e := ctnl.NewEncoder(nil)
		tu.Encode(e, 1)
		s := ctnl.NewScanner(e.Bytes())
		if !s.Next() || s.Type() != 1 {
			t.Fatal("no outer attribute")
		}
		got, err := DecodeTuple(s.Data())
		if err != nil {
			t.Fatal(err)
		}
		if got != tu {
			t.Errorf("round trip: got %+v, want %+v", got, tu)
		}
	}
}

func TestTupleText(t *testing.T) {
	tu, _ := ParseTuple([]string{"tcp", "10.0.0.1", "10.0.0.2", "40000", "21"})
	if got := string(tu.AppendText(nil)); got != "src=10.0.0.1 dst=10.0.0.2 sport=40000 dport=21 " {
		t.Fatalf("text = %q", got)
	}
}

var benchOrig = Tuple{Src: netip.MustParseAddr("10.0.0.1"), Dst: netip.MustParseAddr("10.0.0.2"), Proto: 6, SrcPort: 40000, DstPort: 21}

func BenchmarkDecodeTuple(b *testing.B) {
	for _, bc := range []struct {
		name string
		t    Tuple
	}{
		{"tcp4", benchOrig},
		{"udp6", Tuple{Src: netip.MustParseAddr("fd00::1"), Dst: netip.MustParseAddr("fd00::2"), Proto: 17, SrcPort: 5, DstPort: 69, Zone: 3, HasZone: true}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			e := ctnl.NewEncoder(nil)
			bc.t.Encode(e, 1)
			s := ctnl.NewScanner(e.Bytes())
			s.Next()
			data := s.Data()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := DecodeTuple(data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkTupleAppendText(b *testing.B) {
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	for b.Loop() {
		buf = benchOrig.AppendText(buf[:0])
	}
}

// ParseTuple reads command-line words (not a hot path; measured to keep
// it honest).
func BenchmarkParseTuple(b *testing.B) {
	words := []string{"tcp", "10.0.0.1", "10.0.0.2", "40000", "21"}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseTuple(words); err != nil {
			b.Fatal(err)
		}
	}
}

// canonical is what a tuple's encoding can say: the layer-4 fields of its
// protocol only; ok is false when its addresses are not both of one family.
func canonical(t Tuple) (c Tuple, ok bool) {
	c = Tuple{Src: t.Src, Dst: t.Dst, Proto: t.Proto, Zone: t.Zone, HasZone: t.HasZone}
	switch l4 := Layer4Of(t.Proto); {
	case l4 == ICMPFields:
		c.ICMPType, c.ICMPCode, c.ICMPID = t.ICMPType, t.ICMPCode, t.ICMPID
	case l4.PortAttrs():
		c.SrcPort, c.DstPort = t.SrcPort, t.DstPort
	}
	return c, t.Src.IsValid() && t.Dst.IsValid() && t.Src.Is4() == t.Dst.Is4()
}

func encodeDecode(t *testing.T, tu Tuple) Tuple {
	e := ctnl.NewEncoder(nil)
	tu.Encode(e, 1)
	s := ctnl.NewScanner(e.Bytes())
	if !s.Next() || s.Type() != 1 {
		t.Fatal("no outer attribute")
	}
	got, err := DecodeTuple(s.Data())
	if err != nil {
		t.Fatalf("decoding what Encode wrote for %+v: %v", tu, err)
	}
	return got
}

// Decode, encode, decode: the second decoding says what the first did (of
// a tuple the encoding can express), and encoding is stable.
func FuzzTupleRoundTrip(f *testing.F) {
	for _, tu := range []Tuple{benchOrig,
		{Src: netip.MustParseAddr("fd00::1"), Dst: netip.MustParseAddr("fd00::2"), Proto: 58, ICMPType: 128, ICMPCode: 0, ICMPID: 7, Zone: 2, HasZone: true},
		{Src: netip.MustParseAddr("1.2.3.4"), Dst: netip.MustParseAddr("5.6.7.8"), Proto: 47, SrcPort: 0x1234, DstPort: 0x5678},
	} {
		e := ctnl.NewEncoder(nil)
		tu.Encode(e, 1)
		s := ctnl.NewScanner(e.Bytes())
		s.Next()
		f.Add(s.Data())
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		t1, err := DecodeTuple(b)
		if err != nil {
			return
		}
		t2 := encodeDecode(t, t1)
		if c, ok := canonical(t1); ok && t2 != c {
			t.Fatalf("decoded %+v, after a round trip %+v", c, t2)
		}
		if t3 := encodeDecode(t, t2); t3 != t2 {
			t.Fatalf("encoding not stable: %+v then %+v", t2, t3)
		}
	})
}
