package ctflow

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gonfct/gonfct/pkg/ctnetlink"
	"github.com/gonfct/gonfct/pkg/ctnl"
	"github.com/gonfct/gonfct/pkg/expect"
	"golang.org/x/sys/unix"
)

// Dump messages captured from Linux 6.18 (attributes after the nfgenmsg),
// with the line conntrack -L printed for them at the same moment.
var fixtures = []struct {
	name   string
	family uint8
	hex    string
	text   string
}{
	{
		name:   "tcp with ftp helper",
		family: unix.AF_INET,
		hex:    "3400018014000180080001000a000001080002000a0000021c0002800500010006000000060002009c40000006000300001500003400028014000180080001000a000002080002000a0000011c00028005000100060000000600020000150000060003009c400000080003000000200e080008000000000008000c00b20b48ae08000b00000000010800070000000de4300004802c000180050001000300000005000200000000000500030000000000060004000000000006000500000000000c00058008000100667470001c001880080001000000000008000200000000000800030000000000",
		text:   "tcp      6 3556 ESTABLISHED src=10.0.0.1 dst=10.0.0.2 sport=40000 dport=21 src=10.0.0.2 dst=10.0.0.1 sport=21 dport=40000 [ASSURED] mark=0 helper=ftp use=1\n",
	},
	{
		name:   "udp in zone 3 with mark",
		family: unix.AF_INET,
		hex:    "3400018014000180080001000a000005080002000a0000061c0002800500010011000000060002001388000006000300004500003400028014000180080001000a000006080002000a0000051c00028005000100110000000600020000450000060003001388000006001200000300000800030000000008080008000000000708000c0002473e0808000b000000000108000700000001051c001880080001000000000008000200000000000800030000000000",
		text:   "udp      17 261 src=10.0.0.5 dst=10.0.0.6 sport=5000 dport=69 [UNREPLIED] src=10.0.0.6 dst=10.0.0.5 sport=69 dport=5000 mark=7 zone=3 use=1\n",
	},
	{
		name:   "tcp over ipv6",
		family: unix.AF_INET6,
		hex:    "4c0001802c00018014000300fd00000000000000000000000000000114000400fd0000000000000000000000000000021c00028005000100060000000600020003e8000006000300001600004c0002802c00018014000300fd00000000000000000000000000000214000400fd0000000000000000000000000000011c000280050001000600000006000200001600000600030003e800000800030000000008080008000000000008000c0017b84c4608000b0000000001080007000000003d300004802c000180050001000100000005000200000000000500030000000000060004000000000006000500000000001c001880080001000000000008000200000000000800030000000000",
		text:   "tcp      6 61 SYN_SENT src=fd00::1 dst=fd00::2 sport=1000 dport=22 [UNREPLIED] src=fd00::2 dst=fd00::1 sport=22 dport=1000 mark=0 use=1\n",
	},
}

func mustHex(t testing.TB, s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDecodeAndTextMatchConntrack(t *testing.T) {
	for _, fx := range fixtures {
		t.Run(fx.name, func(t *testing.T) {
			var f Flow
			if err := Decode(fx.family, mustHex(t, fx.hex), &f); err != nil {
				t.Fatal(err)
			}
			if got := string(f.AppendText(nil)); got != fx.text {
				t.Errorf("text\n got %q\nwant %q", got, fx.text)
			}
		})
	}
}

func TestDecodeFields(t *testing.T) {
	var f Flow
	if err := Decode(unix.AF_INET, mustHex(t, fixtures[0].hex), &f); err != nil {
		t.Fatal(err)
	}
	if f.Helper() != "ftp" || !f.Has(HasHelper) || f.Has(HasHelperInfo) {
		t.Errorf("helper %q (set %v)", f.Helper(), f.Set)
	}
	if f.Status != StatusSeenReply|StatusAssured|StatusConfirmed|StatusHelper {
		t.Errorf("status %v", f.Status)
	}
	if f.StateName() != "ESTABLISHED" || f.Timeout != 3556 || f.Use != 1 || !f.Has(HasMark) {
		t.Errorf("state %q timeout %d use %d", f.StateName(), f.Timeout, f.Use)
	}
	want := ctnetlink.Tuple{Src: netip.MustParseAddr("10.0.0.1"), Dst: netip.MustParseAddr("10.0.0.2"), Proto: 6, SrcPort: 40000, DstPort: 21}
	if f.Orig != want || f.Reply != Invert(want) {
		t.Errorf("tuples %v / %v", f.Orig, f.Reply)
	}
	// Decode resets: a second message must not inherit the helper.
	if err := Decode(unix.AF_INET, mustHex(t, fixtures[1].hex), &f); err != nil {
		t.Fatal(err)
	}
	if f.Has(HasHelper) || f.Zone != 3 || f.Mark != 7 {
		t.Errorf("second decode: helper %v zone %d mark %d", f.Has(HasHelper), f.Zone, f.Mark)
	}
}

// The listing path (decode, match, format) must not allocate per flow.
func TestListPathAllocations(t *testing.T) {
	msgs := make([][]byte, len(fixtures))
	for i, fx := range fixtures {
		msgs[i] = mustHex(t, fx.hex)
	}
	var (
		f   Flow
		buf = make([]byte, 0, 512)
		flt = Filter{HasProto: true, Proto: 6, Dst: netip.MustParsePrefix("10.0.0.0/8")}
	)
	allocs := testing.AllocsPerRun(200, func() {
		for i, m := range msgs {
			if err := Decode(fixtures[i].family, m, &f); err != nil {
				t.Fatal(err)
			}
			flt.Match(&f)
			buf = f.AppendText(buf[:0])
		}
	})
	if allocs != 0 {
		t.Errorf("decode+match+format allocates %.1f times per %d flows, want 0", allocs, len(msgs))
	}
}

func TestDecodeMalformed(t *testing.T) {
	b := mustHex(t, fixtures[0].hex)
	var f Flow
	for _, n := range []int{3, 10, 50, len(b) - 3} {
		// A cut inside the outer attribute stream must be an error, never a
		// panic.
		_ = Decode(unix.AF_INET, b[:n], &f)
	}
	if err := Decode(unix.AF_INET, b[:10], &f); err == nil {
		t.Error("truncated message decoded without error")
	}
}

func FuzzDecode(f *testing.F) {
	for _, fx := range fixtures {
		f.Add(mustHex(f, fx.hex))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var fl Flow
		if Decode(unix.AF_INET, b, &fl) == nil {
			fl.AppendText(nil)
			fl.Row()
			if !json.Valid(fl.AppendJSON(nil)) {
				t.Fatalf("invalid JSON %s", fl.AppendJSON(nil))
			}
		}
	})
}

func sampleFlow(t *testing.T) Flow {
	t.Helper()
	o := ctnetlink.Tuple{Src: netip.MustParseAddr("10.1.1.1"), Dst: netip.MustParseAddr("10.1.1.2"), Proto: 6, SrcPort: 40000, DstPort: 21}
	f := Flow{Family: unix.AF_INET, Orig: o, Reply: Invert(o), Timeout: 600, Status: StatusAssured | StatusSeenReply,
		Mark: 9, Zone: 4, State: 3, TCPWScaleOrig: 7, TCPWScaleReply: 8, TCPFlagsOrig: 0x23, TCPFlagsReply: 0x22}
	f.Set = HasTimeout | HasStatus | HasMark | HasZone | HasState | HasTCPWScale | HasTCPFlags | HasLabels
	f.Labels[0] = 0x05
	if err := f.SetHelper("ftp"); err != nil {
		t.Fatal(err)
	}
	if err := f.SetHelperInfo([]byte{1, 2, 3, 4}); err != nil {
		t.Fatal(err)
	}
	return f
}

// What EncodeCreate writes, Decode reads back (both speak CTA_*).
func TestEncodeCreateRoundTrip(t *testing.T) {
	f := sampleFlow(t)
	e := ctnl.NewEncoder(nil)
	EncodeCreate(e, &f)
	var got Flow
	if err := Decode(unix.AF_INET, e.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	want := f
	want.Status |= StatusConfirmed
	if d := SameState(&want, &got); d != "" {
		t.Errorf("round trip differs:\n%s", d)
	}
	if got.Timeout != 600 {
		t.Errorf("timeout %d", got.Timeout)
	}
	// The helper name goes NUL-terminated (ti-mo/conntrack's omission makes
	// the kernel answer EINVAL).
	if !strings.Contains(string(e.Bytes()), "ftp\x00") {
		t.Error("CTA_HELP_NAME is not NUL-terminated")
	}
}

func TestEncodeUpdateOnlySetFields(t *testing.T) {
	o := ctnetlink.Tuple{Src: netip.MustParseAddr("10.1.1.1"), Dst: netip.MustParseAddr("10.1.1.2"), Proto: 17, SrcPort: 1, DstPort: 2}
	f := Flow{Family: unix.AF_INET, Orig: o, Mark: 0x10, Set: HasMark}
	e := ctnl.NewEncoder(nil)
	EncodeUpdate(e, &f, 0xf0)
	s := ctnl.NewScanner(e.Bytes())
	var types []uint16
	for s.Next() {
		types = append(types, s.Type())
		if s.Type() == ctnetlink.AttrMarkMask && s.Uint32() != 0xf0 {
			t.Errorf("mark mask %#x", s.Uint32())
		}
	}
	if want := []uint16{ctnetlink.AttrTupleOrig, ctnetlink.AttrMark, ctnetlink.AttrMarkMask}; !equalU16(types, want) {
		t.Errorf("update attributes %v, want %v", types, want)
	}
}

func equalU16(a, b []uint16) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestJSONRoundTrip(t *testing.T) {
	f := sampleFlow(t)
	b, err := json.Marshal(&f)
	if err != nil {
		t.Fatal(err)
	}
	var j FlowJSON
	if err := json.Unmarshal(b, &j); err != nil {
		t.Fatal(err)
	}
	back, err := j.Flow()
	if err != nil {
		t.Fatal(err)
	}
	if d := SameState(&f, &back); d != "" {
		t.Errorf("JSON round trip differs:\n%s", d)
	}
	if back.Timeout != f.Timeout {
		t.Errorf("timeout %d, want %d", back.Timeout, f.Timeout)
	}
}

// GRE keys travel in the tuple's port fields; the JSON form carries them as
// sport and dport and must read them back (it used to drop them).
func TestJSONRoundTripGREKeys(t *testing.T) {
	orig := ctnetlink.Tuple{Src: netip.MustParseAddr("10.0.0.1"), Dst: netip.MustParseAddr("10.0.0.2"), Proto: unix.IPPROTO_GRE, SrcPort: 0x1234, DstPort: 0x5678}
	f := Flow{Family: unix.AF_INET, Orig: orig, Reply: Invert(orig), Timeout: 30, Set: HasTimeout | HasStatus | HasMark}
	b, err := json.Marshal(&f)
	if err != nil {
		t.Fatal(err)
	}
	var j FlowJSON
	if err := json.Unmarshal(b, &j); err != nil {
		t.Fatal(err)
	}
	back, err := j.Flow()
	if err != nil {
		t.Fatal(err)
	}
	if back.Orig != f.Orig || back.Reply != f.Reply {
		t.Errorf("GRE tuples after a JSON round trip: %s / %s, want %s / %s (JSON %s)", back.Orig, back.Reply, f.Orig, f.Reply, b)
	}
}

func TestFlowJSONErrors(t *testing.T) {
	good := `{"family":"ipv4","protocol":"tcp","original":{"src":"1.1.1.1","dst":"2.2.2.2","sport":1,"dport":2},"reply":{"src":"2.2.2.2","dst":"1.1.1.1","sport":2,"dport":1},"status":[],"timeout":5,"mark":0`
	for _, tc := range []struct{ in, want string }{
		{good + `}`, ""},
		{strings.Replace(good, `"timeout":5,`, "", 1) + `}`, "no timeout"},
		{strings.Replace(good, `"1.1.1.1"`, `"1.1.1"`, 1) + `}`, "bad address"},
		{strings.Replace(good, `"ipv4"`, `"ipx"`, 1) + `}`, "family"},
		{good + `,"helper":"averyveryverylonghelper"}`, "at most 15"},
		{good + `,"helper":"ftp","helper_info":"zz"}`, "not hex"},
		{good + `,"helper_info":"00"}`, "without helper"},
		{good + `,"status":["BOGUS"]}`, "unknown status"},
		{good + `,"state":"NOPE"}`, "unknown tcp state"},
		{good + `,"labels":[128]}`, "label bit"},
	} {
		var j FlowJSON
		if err := json.Unmarshal([]byte(tc.in), &j); err != nil {
			t.Fatalf("%s: %v", tc.in, err)
		}
		_, err := j.Flow()
		if tc.want == "" {
			if err != nil {
				t.Errorf("%s: %v", tc.in, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.in, err, tc.want)
		}
	}
}

func TestFilterMatch(t *testing.T) {
	f := sampleFlow(t)
	p := netip.MustParsePrefix
	for _, tc := range []struct {
		name string
		flt  Filter
		want bool
	}{
		{"empty", Filter{}, true},
		{"family", Filter{Family: unix.AF_INET6}, false},
		{"proto", Filter{HasProto: true, Proto: 17}, false},
		{"src prefix", Filter{Src: p("10.1.0.0/16")}, true},
		{"dst miss", Filter{Dst: p("10.1.1.3/32")}, false},
		{"reply src", Filter{ReplySrc: p("10.1.1.2/32")}, true},
		{"dport", Filter{Dport: ctnetlink.PortOf(21)}, true},
		{"reply dport", Filter{ReplyDport: ctnetlink.PortOf(21)}, false},
		{"helper", Filter{HasHelper: true, Helper: "ftp"}, true},
		{"no helper", Filter{HasHelper: true}, false},
		{"mark mask", Filter{HasMark: true, Mark: 0x8, MarkMask: 0x8}, true},
		{"mark miss", Filter{HasMark: true, Mark: 0x2, MarkMask: 0xffffffff}, false},
		{"zone", Filter{HasZone: true, Zone: 4}, true},
		{"zone 0", Filter{HasZone: true, Zone: 0}, false},
		{"status", Filter{Status: StatusAssured}, true},
		{"status miss", Filter{Status: StatusAssured | StatusExpected}, false},
		{"state", Filter{HasState: true, State: 3}, true},
		{"state miss", Filter{HasState: true, State: 1}, false},
	} {
		if got := tc.flt.Match(&f); got != tc.want {
			t.Errorf("%s: Match = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestFilterKernelAttributes(t *testing.T) {
	p := netip.MustParsePrefix
	// IPv4 exact address + TCP port: CTA_FILTER with host-order flags.
	f := Filter{HasProto: true, Proto: 6, Src: p("10.0.0.1/32"), Dport: ctnetlink.PortOf(21), HasMark: true, Mark: 1, MarkMask: 3}
	e := ctnl.NewEncoder(nil)
	if fam := f.EncodeKernel(e); fam != unix.AF_INET {
		t.Fatalf("family %d", fam)
	}
	flags := filterFlags(t, e.Bytes())
	if flags[ctnetlink.AttrFilterOrigFlags] != ctnetlink.FilterIPSrc|ctnetlink.FilterProtoNum|ctnetlink.FilterDstPort {
		t.Errorf("orig flags %#x", flags[ctnetlink.AttrFilterOrigFlags])
	}
	// IPv6 addresses stay in user space (the kernel compares them inverted),
	// and a prefix is not an exact match either.
	for _, f := range []Filter{{Src: p("fd00::1/128")}, {Src: p("10.0.0.0/24")}} {
		e := ctnl.NewEncoder(nil)
		f.EncodeKernel(e)
		if got := filterFlags(t, e.Bytes()); len(got) != 0 {
			t.Errorf("%v: kernel filter flags %v, want none", f.Src, got)
		}
	}
	// No family: no CTA_FILTER (the kernel answers EOPNOTSUPP).
	e = ctnl.NewEncoder(nil)
	if fam := (&Filter{HasProto: true, Proto: 6}).EncodeKernel(e); fam != 0 || len(filterFlags(t, e.Bytes())) != 0 {
		t.Error("CTA_FILTER sent without a family")
	}
}

func filterFlags(t *testing.T, b []byte) map[uint16]uint32 {
	out := map[uint16]uint32{}
	s := ctnl.NewScanner(b)
	for s.Next() {
		if s.Type() == ctnetlink.AttrFilter {
			n := s.Nested()
			for n.Next() {
				d := n.Data()
				if len(d) != 4 {
					t.Fatalf("flags attribute of %d bytes", len(d))
				}
				out[n.Type()] = uint32(d[0]) | uint32(d[1])<<8 | uint32(d[2])<<16 | uint32(d[3])<<24
			}
		}
	}
	return out
}

func TestParseStatusAndState(t *testing.T) {
	st, err := ParseStatus("assured,seen-reply")
	if err != nil || st != StatusAssured|StatusSeenReply {
		t.Errorf("ParseStatus = %v, %v", st, err)
	}
	if _, err := ParseStatus("assured,bogus"); err == nil {
		t.Error("bogus status accepted")
	}
	if s, err := ParseState(6, "time-wait"); err != nil || s != 7 {
		t.Errorf("ParseState = %d, %v", s, err)
	}
	if _, err := ParseState(17, "ESTABLISHED"); err == nil {
		t.Error("udp state accepted")
	}
}

func TestInvertICMP(t *testing.T) {
	o := ctnetlink.Tuple{Src: netip.MustParseAddr("1.1.1.1"), Dst: netip.MustParseAddr("2.2.2.2"), Proto: 1, ICMPType: 8, ICMPID: 5}
	r := Invert(o)
	if r.ICMPType != 0 || r.ICMPID != 5 || r.Src != o.Dst {
		t.Errorf("Invert(echo request) = %+v", r)
	}
}

const saveOK = `{"version":1,"conntracks":[
{"family":"ipv4","protocol":"udp","original":{"src":"1.1.1.1","dst":"2.2.2.2","sport":1,"dport":2},"reply":{"src":"2.2.2.2","dst":"1.1.1.1","sport":2,"dport":1},"status":[],"timeout":5,"mark":0},
{"family":"ipv4","protocol":"udp","original":{"src":"1.1.1.1","dst":"2.2.2.2","sport":1,"dport":3},"reply":{"src":"2.2.2.2","dst":"1.1.1.1","sport":3,"dport":1},"status":[],"timeout":5,"mark":0}
],"expectations":[]}
`

func TestParseSaveFile(t *testing.T) {
	_, entries, exps, err := ParseSaveFile([]byte(saveOK))
	if err != nil || len(entries) != 2 || len(exps) != 0 || entries[1].Err != nil {
		t.Fatalf("valid file: %v, %d entries", err, len(entries))
	}
	if entries[0].Line != 2 || entries[1].Line != 3 {
		t.Errorf("entry lines %d, %d; want 2, 3", entries[0].Line, entries[1].Line)
	}
	for _, tc := range []struct{ name, in, want string }{
		{"truncated", saveOK[:200], "line 2 column"},
		{"corrupt", strings.Replace(saveOK, `"sport":2,`, `"sport":2,,`, 1), "line 2 column"},
		{"wrong type", strings.Replace(saveOK, `"timeout":5`, `"timeout":"5"`, 1), ""},
		{"version", strings.Replace(saveOK, `"version":1`, `"version":2`, 1), "version 2"},
		{"not a save file", `{"version":1}`, "no \"conntracks\""},
		{"trailing", saveOK + "{}", "data after"},
		{"unknown field", strings.Replace(saveOK, `"version":1`, `"version":1,"bogus":1`, 1), "bogus"},
	} {
		_, entries, _, err := ParseSaveFile([]byte(tc.in))
		if tc.name == "wrong type" {
			// A bad entry is not a file error: it comes back marked.
			if err != nil || entries[0].Err == nil {
				t.Errorf("%s: file error %v, entry error %v", tc.name, err, entries[0].Err)
			}
			continue
		}
		var fe *FormatError
		if !errors.As(err, &fe) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want FormatError with %q", tc.name, err, tc.want)
		}
	}
	// Expectations in pkg/expect's JSON form, a bad one marked by index.
	withExp := strings.Replace(saveOK, `"expectations":[]`, `"expectations":[
{"family":"ipv4","proto":"tcp","proto_num":6,"timeout":299,"id":1,"tuple":{"proto":"tcp","src":"10.0.0.2","dst":"10.0.0.1","sport":0,"dport":50000},"mask":{"src":"10.0.0.2","dst":"255.255.255.255","sport":0,"dport":65535},"master":{"proto":"tcp","src":"10.0.0.1","dst":"10.0.0.2","sport":40000,"dport":21},"flags":["permanent"],"class":0,"helper":"ftp"},
{"family":"ipv4","proto":"tcp","tuple":{"src":"10.0.0.2"}}]`, 1)
	_, _, exps, err = ParseSaveFile([]byte(withExp))
	if err != nil || len(exps) != 2 {
		t.Fatalf("with expectations: %v, %d", err, len(exps))
	}
	if exps[0].Err != nil || exps[0].Exp.Helper != "" || exps[0].Exp.Master.DstPort != 21 || exps[0].Exp.Timeout != 299 {
		t.Errorf("expectation 0: %+v, %v", exps[0].Exp, exps[0].Err)
	}
	if exps[1].Err == nil {
		t.Error("expectation without dst accepted")
	}
}

// saveRoundTripSeed has a conntrack of every kind of tuple and
// expectations, one with its ICMP id under the key older files used.
const saveRoundTripSeed = `{"version":1,"conntracks":[
{"family":"ipv4","protocol":"gre","original":{"src":"1.1.1.1","dst":"2.2.2.2","sport":4660,"dport":22136},"reply":{"src":"2.2.2.2","dst":"1.1.1.1","sport":22136,"dport":4660},"status":["ASSURED"],"timeout":5,"mark":1},
{"family":"ipv6","protocol":"icmpv6","original":{"src":"::1","dst":"::2","type":128,"code":0,"id":7,"zone":3},"reply":{"src":"::2","dst":"::1","type":129,"code":0,"id":7},"status":[],"timeout":5,"mark":0,"labels":[1,127]},
{"family":"ipv4","protocol":"tcp","original":{"src":"1.1.1.1","dst":"2.2.2.2","sport":1,"dport":21},"reply":{"src":"2.2.2.2","dst":"1.1.1.1","sport":21,"dport":1},"status":["SEEN_REPLY"],"timeout":5,"state":"ESTABLISHED","tcp":{"wscale_original":7,"wscale_reply":7,"flags_original":3,"flags_reply":3},"mark":0,"helper":"ftp","helper_info":"0a0b","zone":2,"master":{"src":"3.3.3.3","dst":"4.4.4.4","sport":5,"dport":6,"protocol":"udp"}}
],"expectations":[
{"family":"ipv4","proto":"icmp","proto_num":1,"timeout":9,"id":1,"tuple":{"proto":"icmp","src":"1.1.1.1","dst":"2.2.2.2","type":8,"code":0,"icmp_id":5},"mask":{"src":"255.255.255.255","dst":"255.255.255.255","type":255,"code":255,"icmp_id":65535},"master":{"proto":"tcp","src":"1.1.1.1","dst":"2.2.2.2","sport":1,"dport":21},"flags":["permanent"],"class":1,"helper":"ftp","zone":2,"nat":{"dir":"reply","src":"9.9.9.9","sport":3}}
]}
`

// Parse, write, parse: every entry a save file holds is written back as it
// was read (the save writer and the parser agree), GRE keys included.
func FuzzSaveFileRoundTrip(f *testing.F) {
	f.Add([]byte(saveOK))
	f.Add([]byte(saveRoundTripSeed))
	f.Add([]byte(`{"version":1,"conntracks":[{}],"expectations":[{}]}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		_, entries, exps, err := ParseSaveFile(in)
		if err != nil {
			return
		}
		var out bytes.Buffer
		sw := newSaveWriter(&out, time.Unix(0, 0))
		var flows []Flow
		for _, e := range entries {
			if e.Err == nil {
				flows = append(flows, e.Flow)
				_ = sw.flow(&e.Flow)
			}
		}
		sw.startExpectations()
		var want []expect.Expectation
		for _, e := range exps {
			if e.Err == nil {
				want = append(want, e.Exp)
				_ = sw.expectation(&e.Exp)
			}
		}
		if err := sw.close(); err != nil {
			t.Fatal(err)
		}
		_, entries2, exps2, err := ParseSaveFile(out.Bytes())
		if err != nil || len(entries2) != len(flows) || len(exps2) != len(want) {
			t.Fatalf("reading what was written: %v, %d of %d conntracks, %d of %d expectations\n%s",
				err, len(entries2), len(flows), len(exps2), len(want), out.Bytes())
		}
		for i, e := range entries2 {
			if e.Err != nil || string(e.Flow.AppendJSON(nil)) != string(flows[i].AppendJSON(nil)) {
				t.Fatalf("conntrack %d: %v\nread   %s\nreread %s", i, e.Err, flows[i].AppendJSON(nil), e.Flow.AppendJSON(nil))
			}
		}
		for i, e := range exps2 {
			if e.Err != nil || e.Exp != want[i] {
				t.Fatalf("expectation %d: %v\nread   %+v\nreread %+v", i, e.Err, want[i], e.Exp)
			}
		}
	})
}

func TestSaveFileKeepsGREKeysAndOldICMPID(t *testing.T) {
	_, entries, exps, err := ParseSaveFile([]byte(saveRoundTripSeed))
	if err != nil || len(entries) != 3 || len(exps) != 1 {
		t.Fatalf("%v, %d conntracks, %d expectations", err, len(entries), len(exps))
	}
	for _, e := range entries {
		if e.Err != nil {
			t.Fatalf("conntracks[%d]: %v", e.Index, e.Err)
		}
	}
	if g := entries[0].Flow; g.Orig.SrcPort != 0x1234 || g.Orig.DstPort != 0x5678 {
		t.Errorf("GRE keys read as %s", &g.Orig)
	}
	if e := exps[0]; e.Err != nil || e.Exp.Tuple.ICMPID != 5 || e.Exp.Mask.ICMPID != 0xffff {
		t.Errorf("expectation with icmp_id: %+v, %v", e.Exp, e.Err)
	}
}

func TestParseLabels(t *testing.T) {
	conf := filepath.Join(t.TempDir(), "connlabel.conf")
	if err := os.WriteFile(conf, []byte("# bits\n0 zero\n5 five\n127 last\nbad line\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	bits, err := ParseLabels([]string{"1,five", "last"}, conf)
	if err != nil || bits[0] != 0x22 || bits[15] != 0x80 {
		t.Errorf("labels %x, %v", bits, err)
	}
	// Numbers alone never read the file.
	if bits, err := ParseLabels([]string{"3"}, filepath.Join(t.TempDir(), "absent")); err != nil || bits[0] != 0x08 {
		t.Errorf("labels %x, %v", bits, err)
	}
	for _, words := range [][]string{{"128"}, {"-1"}, {"nosuch"}} {
		if _, err := ParseLabels(words, conf); err == nil {
			t.Errorf("%q accepted", words)
		}
	}
}
