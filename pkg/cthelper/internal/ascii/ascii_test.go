package ascii

import (
	"net/netip"
	"testing"
)

func TestUintAndPort(t *testing.T) {
	for _, c := range []struct {
		in   string
		max  uint64
		v    uint64
		n    int
		port bool
	}{
		{"1023\x00", 65535, 1023, 4, false},
		{"65535", 65535, 65535, 5, true},
		{"65536", 65535, 0, 0, false},
		{"0", 65535, 0, 1, false},
		{"x1", 65535, 0, 0, false},
		{"99999999999999999999999", 1 << 62, 0, 0, false},
	} {
		v, n := Uint([]byte(c.in), c.max)
		if v != c.v || n != c.n {
			t.Errorf("Uint(%q) = %d, %d; want %d, %d", c.in, v, n, c.v, c.n)
		}
		if _, ok := Port([]byte(c.in)); ok != c.port {
			t.Errorf("Port(%q) ok = %v, want %v", c.in, ok, c.port)
		}
	}
}

func TestAddr(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.7": "192.0.2.7", "2001:db8::1": "2001:db8::1", "fe80::1%eth0": "", "1.2.3": "", "": "",
		"::": "::", "::1": "::1", "1::": "1::", "::ffff:192.0.2.1": "::ffff:192.0.2.1", "1:2:3:4:5:6:7:8": "1:2:3:4:5:6:7:8",
		"1:2:3:4:5:6:1.2.3.4": "1:2:3:4:5:6:102:304", "1:2:3:4:5:6:7:8:9": "", "1::2::3": "", "1:2:3:4:5:6:7": "",
		"12345::": "", ":1": "", "1:": "", "1.2.3.04": "", "1.2.3.256": "", "::1.2.3": "", "1:2:3:4:5:6:7::": "1:2:3:4:5:6:7:0",
		"::1:2:3:4:5:6:7": "0:1:2:3:4:5:6:7", "1:2:3:4:5:6:7:8::": "", "fe80::a:B:c": "fe80::a:b:c",
	} {
		a, ok := Addr([]byte(in))
		if (want == "") == ok || ok && a != netip.MustParseAddr(want) {
			t.Errorf("Addr(%q) = %v, %v; want %q", in, a, ok, want)
		}
	}
	b := []byte("192.0.2.7")
	if n := testing.AllocsPerRun(100, func() { Addr(b) }); n != 0 {
		t.Errorf("Addr allocates %v times", n)
	}
}

func TestFoldAndLines(t *testing.T) {
	if !HasPrefixFold([]byte("Location: x"), "location:") || HasPrefixFold([]byte("Loc"), "location:") {
		t.Error("HasPrefixFold")
	}
	if i := IndexFold([]byte("a (HOST=x)"), "(host="); i != 2 {
		t.Errorf("IndexFold = %d", i)
	}
	l, r := Line([]byte("one\r\ntwo"))
	if string(l) != "one" || string(r) != "two" {
		t.Errorf("Line = %q %q", l, r)
	}
	if s := string(AppendUint(nil, 40001)); s != "40001" {
		t.Errorf("AppendUint = %s", s)
	}
	if s := string(TrimSpace([]byte(" \tx y\t "))); s != "x y" {
		t.Errorf("TrimSpace = %q", s)
	}
}

func FuzzAddr(f *testing.F) {
	for _, s := range []string{"::1", "1.2.3.4", "1:2:3:4:5:6:1.2.3.4", "fe80::1:2", "1::2::3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := Addr([]byte(s))
		want, err := netip.ParseAddr(s)
		if err == nil && want.Zone() != "" {
			return
		}
		if ok != (err == nil) || ok && got != want {
			t.Fatalf("Addr(%q) = %v %v; netip says %v %v", s, got, ok, want, err)
		}
	})
}
