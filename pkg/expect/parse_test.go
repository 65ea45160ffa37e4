package expect

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/gonfct/gonfct/pkg/ctnetlink"
)

func TestParseFlags(t *testing.T) {
	tests := []struct {
		in      string
		want    Flags
		wantErr string
	}{
		{"", 0, ""},
		{"permanent", Permanent, ""},
		{"PERMANENT,inactive", Permanent | Inactive, ""},
		{"inactive, permanent", Permanent | Inactive, ""},
		{"sticky", 0, "unknown expectation flag"},
	}
	for _, tt := range tests {
		got, err := ParseFlags(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseFlags(%q) error %v, want %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseFlags(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
	if s := (Permanent | Inactive | Userspace).String(); s != "PERMANENT,INACTIVE,USERSPACE" {
		t.Errorf("String = %q", s)
	}
}

func TestParseMask(t *testing.T) {
	tu := ctnetlink.Tuple{Src: a("10.0.0.2"), Dst: a("10.0.0.1"), Proto: 6, DstPort: 50000}
	v6 := ctnetlink.Tuple{Src: a("fd00::2"), Dst: a("fd00::1"), Proto: 6, DstPort: 50000}
	exact := DefaultMask(tu) // tu's source port is 0: any
	anySrc := exact
	anySrc.Src, anySrc.SrcPort = a("0.0.0.0"), 0
	net24 := exact
	net24.Src, net24.SrcPort = a("255.255.255.0"), 0
	tests := []struct {
		in      string
		tu      ctnetlink.Tuple
		want    ctnetlink.Tuple
		wantErr string
	}{
		{"src=0.0.0.0 sport=0", tu, anySrc, ""},
		{"255.255.255.0 255.255.255.255 0 65535", tu, net24, ""},
		{"255.255.255.255 255.255.255.255", tu, exact, ""},
		{"proto=tcp src=255.255.255.255", tu, exact, ""},
		{"src=::", tu, exact, "different families"},
		{"src=:: sport=0", v6, func() ctnetlink.Tuple { m := ExactMask(v6); m.Src, m.SrcPort = a("::"), 0; return m }(), ""},
		{"src=/0", v6, func() ctnetlink.Tuple { m := DefaultMask(v6); m.Src = a("::"); return m }(), ""},
		{"src=/64 dst=/128", v6, func() ctnetlink.Tuple { m := DefaultMask(v6); m.Src = a("ffff:ffff:ffff:ffff::"); return m }(), ""},
		{"src=/24", tu, net24, ""},
		{"/24 /32 0 65535", tu, net24, ""},
		{"src=/32 sport=65535", tu, ExactMask(tu), ""},
		{"src=/33", tu, exact, "want /0 to /32"},
		{"src=/", tu, exact, "bad prefix length"},
		{"src=/-1", tu, exact, "bad prefix length"},
		{"src=/129", v6, exact, "want /0 to /128"},
		{"src=1.1.1.1 src=2.2.2.2", tu, exact, "given twice"},
		{"foo=1", tu, exact, "unknown mask key"},
		{"1.1.1.1", tu, exact, "want SRC DST"},
		{"", tu, exact, "empty mask"},
		{"sport=70000", tu, exact, "bad port"},
	}
	for _, tt := range tests {
		got, err := ParseMask(tt.in, tt.tu)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseMask(%q) error %v, want %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseMask(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}

func TestDefaultMask(t *testing.T) {
	// The kernel's helpers leave a source they do not know open: a zero
	// address or port in the expected tuple matches any.
	m := DefaultMask(ctnetlink.Tuple{Src: a("10.0.0.2"), Dst: a("10.0.0.1"), Proto: 6, DstPort: 50000})
	if m.Src != a("255.255.255.255") || m.SrcPort != 0 || m.Dst != a("255.255.255.255") || m.DstPort != 0xffff {
		t.Errorf("source port 0: mask %+v, want exact but for the source port", m)
	}
	m = DefaultMask(ctnetlink.Tuple{Src: a("::"), Dst: a("fd00::1"), Proto: 17, SrcPort: 5060, DstPort: 5060})
	if m.Src != a("::") || m.SrcPort != 0xffff || m.Dst != allOnes6 {
		t.Errorf("source ::: mask %+v, want exact but for the source address", m)
	}
}

func TestContiguous(t *testing.T) {
	for s, want := range map[string]bool{
		"255.255.255.255": true, "255.255.255.0": true, "255.255.128.0": true, "0.0.0.0": true,
		"10.0.0.2": false, "255.0.255.0": false, "255.255.255.254": true, "255.255.255.253": false,
		"ffff:ffff::": true, "::": true, "ffff::1": false, "fd00::2": false,
	} {
		if got := Contiguous(a(s)); got != want {
			t.Errorf("Contiguous(%s) = %v, want %v", s, got, want)
		}
	}
	for l := 0; l <= 32; l++ {
		if m := PrefixMask(32, l); !Contiguous(m) || netip.PrefixFrom(m, l).Masked().Addr() != m {
			t.Errorf("PrefixMask(32, %d) = %v", l, m)
		}
	}
}

func TestParseNAT(t *testing.T) {
	tu := ctnetlink.Tuple{Src: a("10.0.0.2"), Dst: a("10.0.0.1"), Proto: 6, DstPort: 50000}
	for _, in := range []string{"192.0.2.1 1234", "src=192.0.2.1 sport=1234"} {
		n, err := ParseNATTuple(in, tu)
		if err != nil || n.Src != a("192.0.2.1") || n.SrcPort != 1234 || n.Proto != 6 || n.Dst != a("0.0.0.0") {
			t.Errorf("ParseNATTuple(%q) = %v, %v", in, n, err)
		}
	}
	for _, in := range []string{"", "fd00::1", "sport=1", "1.1.1.1 1 2", "1.1.1.1 x"} {
		if _, err := ParseNATTuple(in, tu); err == nil {
			t.Errorf("ParseNATTuple(%q) succeeded", in)
		}
	}
	for in, want := range map[string]uint32{"original": 0, "reply": 1, "1": 1} {
		if d, err := ParseNATDir(in); err != nil || d != want {
			t.Errorf("ParseNATDir(%q) = %d, %v", in, d, err)
		}
	}
	if _, err := ParseNATDir("sideways"); err == nil {
		t.Error("ParseNATDir(sideways) succeeded")
	}
}

func TestValidate(t *testing.T) {
	ok := ftpExpectation()
	tests := []struct {
		name    string
		mod     func(e *Expectation)
		wantErr string
	}{
		{"valid", func(e *Expectation) {}, ""},
		{"no master", func(e *Expectation) { e.Master = ctnetlink.Tuple{} }, "needs a master"},
		{"mixed families", func(e *Expectation) { e.Master.Src, e.Master.Dst = a("fd00::1"), a("fd00::2") }, "one family"},
		{"mask dst not exact", func(e *Expectation) { e.Mask.Dst = a("255.255.255.0") }, "destination exactly"},
		{"bad flags", func(e *Expectation) { e.Flags = 64 }, "unknown expectation flags"},
		{"bad nat dir", func(e *Expectation) { e.NAT.Dir = 2 }, "NAT direction"},
	}
	for _, tt := range tests {
		e := ok
		tt.mod(&e)
		err := e.Validate()
		if tt.wantErr == "" {
			if err != nil {
				t.Errorf("%s: %v", tt.name, err)
			}
		} else if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("%s: error %v, want %q", tt.name, err, tt.wantErr)
		}
	}
}

func TestFilterMatch(t *testing.T) {
	e := ftpExpectation()
	tests := []struct {
		name string
		f    Filter
		want bool
	}{
		{"zero", Filter{}, true},
		{"family", Filter{Family: 2}, true},
		{"other family", Filter{Family: 10}, false},
		{"proto", Filter{Proto: 6}, true},
		{"other proto", Filter{Proto: 17}, false},
		{"helper", Filter{Helper: "ftp"}, true},
		{"other helper", Filter{Helper: "sip"}, false},
		{"class", Filter{Class: 1, HasClass: true}, true},
		{"class 0", Filter{HasClass: true}, false},
		{"expected addresses and ports", Filter{Src: netip.PrefixFrom(a("10.0.0.2"), 32), Dst: netip.PrefixFrom(a("10.0.0.1"), 32), SrcPort: ctnetlink.PortOf(0), DstPort: ctnetlink.PortOf(50000)}, true},
		{"other dport", Filter{DstPort: ctnetlink.PortOf(50001)}, false},
		{"master", Filter{MasterSrc: netip.PrefixFrom(a("10.0.0.1"), 32), MasterDstPort: ctnetlink.PortOf(21), MasterProto: 6}, true},
		{"other master", Filter{MasterSrc: netip.PrefixFrom(a("10.0.0.9"), 32)}, false},
	}
	for _, tt := range tests {
		if got := tt.f.Match(&e); got != tt.want {
			t.Errorf("%s: Match = %v, want %v", tt.name, got, tt.want)
		}
	}
	f := Filter{MasterSrc: netip.PrefixFrom(a("10.0.0.1"), 32), MasterDst: netip.PrefixFrom(a("10.0.0.2"), 32), MasterProto: 6, MasterSrcPort: ctnetlink.PortOf(40000)}
	if _, ok := f.MasterTuple(); ok {
		t.Error("MasterTuple without the destination port is complete")
	}
	f.MasterDstPort = ctnetlink.PortOf(21)
	if m, ok := f.MasterTuple(); !ok || m != e.Master {
		t.Errorf("MasterTuple = %v, %v; want %v", m, ok, e.Master)
	}
}

func FuzzParseMask(f *testing.F) {
	tu := ctnetlink.Tuple{Src: a("10.0.0.2"), Dst: a("10.0.0.1"), Proto: 6, DstPort: 50000}
	for _, s := range []string{"src=0.0.0.0 sport=0", "255.255.255.0 255.255.255.255 0 65535", "proto=tcp dst=1.2.3.4", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := ParseMask(s, tu)
		if err == nil && (m.Proto != tu.Proto || !m.Src.Is4()) {
			t.Errorf("ParseMask(%q) = %v: protocol or family differs from the tuple's", s, m)
		}
		_, _ = ParseNATTuple(s, tu)
	})
}
