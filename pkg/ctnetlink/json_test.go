package ctnetlink

import (
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
)

func TestTupleJSON(t *testing.T) {
	a := netip.MustParseAddr
	for _, tt := range []struct {
		t        Tuple
		protoKey string
		want     string
	}{
		{Tuple{Src: a("10.0.0.1"), Dst: a("10.0.0.2"), Proto: 6, SrcPort: 40000, DstPort: 21}, "",
			`{"src":"10.0.0.1","dst":"10.0.0.2","sport":40000,"dport":21}`},
		{Tuple{Src: a("10.0.0.1"), Dst: a("10.0.0.2"), Proto: 47, SrcPort: 0x1234, DstPort: 0x5678}, "",
			`{"src":"10.0.0.1","dst":"10.0.0.2","sport":4660,"dport":22136}`},
		{Tuple{Src: a("fd00::1"), Dst: a("fd00::2"), Proto: 58, ICMPType: 128, ICMPCode: 0, ICMPID: 77, Zone: 3, HasZone: true}, "proto",
			`{"proto":"icmpv6","src":"fd00::1","dst":"fd00::2","type":128,"code":0,"id":77,"zone":3}`},
		{Tuple{Src: a("10.0.0.1"), Dst: a("10.0.0.2"), Proto: 132, SrcPort: 1, DstPort: 2}, "protocol",
			`{"protocol":"sctp","src":"10.0.0.1","dst":"10.0.0.2","sport":1,"dport":2}`},
		{Tuple{Src: a("10.0.0.1"), Dst: a("10.0.0.2"), Proto: 99}, "",
			`{"src":"10.0.0.1","dst":"10.0.0.2"}`},
	} {
		got := string(tt.t.AppendJSON(nil, tt.t.Proto, tt.protoKey))
		if got != tt.want {
			t.Errorf("AppendJSON\n got %s\nwant %s", got, tt.want)
			continue
		}
		var j TupleJSON
		if err := json.Unmarshal([]byte(got), &j); err != nil {
			t.Fatal(err)
		}
		back, err := j.Tuple(tt.t.Proto)
		if err != nil || back != tt.t {
			t.Errorf("%s read back as %+v, %v", got, back, err)
		}
	}
}

// Expectations in older save files carry the ICMP id as "icmp_id".
func TestTupleJSONReadsICMPIDKey(t *testing.T) {
	for _, tt := range []struct{ in, wantErr string }{
		{`{"src":"1.1.1.1","dst":"2.2.2.2","type":8,"code":0,"icmp_id":9}`, ""},
		{`{"src":"1.1.1.1","dst":"2.2.2.2","type":8,"code":0,"id":9,"icmp_id":9}`, ""},
		{`{"src":"1.1.1.1","dst":"2.2.2.2","type":8,"code":0,"id":9,"icmp_id":8}`, `"id" and "icmp_id" differ`},
		{`{"src":"1.1.1.1","dst":"2.2.2.2","type":8,"code":0}`, "needs type, code and id"},
		{`{"src":"1.1.1.1","dst":"::2","type":8,"code":0,"id":9}`, "mix IPv4 and IPv6"},
		{`{"proto":"tcp","protocol":"udp","src":"1.1.1.1","dst":"2.2.2.2","sport":1,"dport":2}`, "differ"},
		{`{"src":"1.1.1.1","dst":"2.2.2.2","sport":1}`, "needs sport and dport"},
	} {
		var j TupleJSON
		if err := json.Unmarshal([]byte(tt.in), &j); err != nil {
			t.Fatal(err)
		}
		proto := uint8(1)
		if strings.Contains(tt.in, "sport") {
			proto = 6
		}
		got, err := j.Tuple(proto)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%s: error %v, want %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got.ICMPID != 9 || got.ICMPType != 8 {
			t.Errorf("%s: %+v, %v", tt.in, got, err)
		}
	}
}

// Read, write, read: what TupleJSON reads, AppendJSON writes so that it
// reads back the same.
func FuzzTupleJSONRoundTrip(f *testing.F) {
	f.Add([]byte(`{"src":"10.0.0.1","dst":"10.0.0.2","sport":40000,"dport":21,"zone":4}`), uint8(6))
	f.Add([]byte(`{"src":"10.0.0.1","dst":"10.0.0.2","sport":4660,"dport":22136}`), uint8(47))
	f.Add([]byte(`{"proto":"icmp","src":"1.1.1.1","dst":"2.2.2.2","type":8,"code":0,"icmp_id":9}`), uint8(0))
	f.Fuzz(func(t *testing.T, in []byte, proto uint8) {
		var j TupleJSON
		if json.Unmarshal(in, &j) != nil {
			return
		}
		t1, err := j.Tuple(proto)
		if err != nil {
			return
		}
		out := t1.AppendJSON(nil, t1.Proto, "")
		var j2 TupleJSON
		if err := json.Unmarshal(out, &j2); err != nil {
			t.Fatalf("AppendJSON wrote invalid JSON %s: %v", out, err)
		}
		t2, err := j2.Tuple(t1.Proto)
		if err != nil || t2 != t1 {
			t.Fatalf("%s read %+v, wrote %s, read back %+v (%v)", in, t1, out, t2, err)
		}
	})
}

// AppendJSONString escapes as encoding/json does, so hand-written objects
// read like marshalled ones.
func FuzzAppendJSONString(f *testing.F) {
	for _, s := range []string{"ftp", "a\"b\\c", "<&>", "\x00\x1f\n\r\t", "é\xff\xfe", "\u2028\u2029", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, _ := json.Marshal(s)
		if got := AppendJSONString(nil, s); string(got) != string(want) {
			t.Fatalf("%q: got %s, encoding/json %s", s, got, want)
		}
	})
}
