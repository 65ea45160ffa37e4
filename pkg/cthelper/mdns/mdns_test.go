package mdns

import (
	"net/netip"
	"path/filepath"
	"testing"

	"github.com/gonfct/gonfct/pkg/cthelper"
	"github.com/gonfct/gonfct/pkg/cthelper/internal/pcaptest"
	"golang.org/x/sys/unix"
)

// testdata/query4.pcap is a real one-shot mDNS query from Debian's dig to
// 224.0.0.251:5353 (testdata/capture.sh).

func query(t testing.TB) pcaptest.Frame {
	return pcaptest.Read(t, filepath.Join("testdata", "query4.pcap"))[0]
}

func TestCapture(t *testing.T) {
	q := query(t)
	got := pcaptest.Expects(pcaptest.Replay(t, Parser{}, PrivLen, []pcaptest.Frame{q}))
	want := cthelper.Expect{Proto: unix.IPPROTO_UDP, SrcPort: 5353, Dst: q.Src, DstPort: q.SrcPort, Flags: cthelper.ExpectPermanent}
	if len(got) != 1 || got[0] != want {
		t.Errorf("%+v, want %+v", got, want)
	}
	// The same query over IPv6 (dig cannot send to ff02::fb; the bytes are
	// the captured query's).
	q6 := q
	q6.Family, q6.Src, q6.Dst = unix.AF_INET6, netip.MustParseAddr("fe80::1"), netip.MustParseAddr("ff02::fb")
	got = pcaptest.Expects(pcaptest.Replay(t, Parser{}, PrivLen, []pcaptest.Frame{q6}))
	want.Dst = q6.Src
	if len(got) != 1 || got[0] != want {
		t.Errorf("IPv6: %+v, want %+v", got, want)
	}
}

func TestNegative(t *testing.T) {
	q := query(t)
	resp := q
	resp.Payload = append([]byte(nil), q.Payload...)
	resp.Payload[2] |= 0x80
	unicast := q
	unicast.Dst = netip.MustParseAddr("192.0.2.7")
	short := q
	short.Payload = q.Payload[:11]
	for name, f := range map[string]pcaptest.Frame{"response": resp, "unicast": unicast, "short": short} {
		steps := pcaptest.Replay(t, Parser{}, PrivLen, []pcaptest.Frame{f})
		if got := pcaptest.Expects(steps); len(got) != 0 {
			t.Errorf("%s: %+v", name, got)
		}
	}
	if _, err := New(cthelper.Options{"x": "1"}); err == nil {
		t.Error("option accepted")
	}
}

func TestSNAT(t *testing.T) {
	q := query(t)
	p := &cthelper.Packet{Family: unix.AF_INET, Proto: unix.IPPROTO_UDP, Info: cthelper.New, Payload: q.Payload}
	p.Orig.Src, p.Orig.Dst, p.Orig.SrcPort, p.Orig.DstPort = q.Src, q.Dst, q.SrcPort, 5353
	p.Reply.Src, p.Reply.Dst, p.Reply.SrcPort, p.Reply.DstPort = q.Dst, netip.MustParseAddr("203.0.113.1"), 5353, 61000
	var r cthelper.Result
	r.Reset()
	_ = Parser{}.Parse(p, &r)
	e := r.Expects[0]
	if r.NExpects != 1 || e.Dst != p.Reply.Dst || e.DstPort != 61000 || !e.NAT || e.NATDir != cthelper.Reply || e.NATAddr != q.Src || e.NATPort != q.SrcPort {
		t.Errorf("%+v", r.Expects[:r.NExpects])
	}
	if n := testing.AllocsPerRun(100, func() { r.Reset(); _ = Parser{}.Parse(p, &r) }); n != 0 {
		t.Errorf("%v allocations", n)
	}
}

func FuzzParse(f *testing.F) {
	f.Add(query(f).Payload)
	f.Fuzz(func(t *testing.T, b []byte) {
		p := &cthelper.Packet{Family: unix.AF_INET, Proto: unix.IPPROTO_UDP, Info: cthelper.New, Payload: b}
		p.Orig.Dst, p.Orig.DstPort = netip.MustParseAddr("224.0.0.251"), 5353
		var r cthelper.Result
		r.Reset()
		_ = Parser{}.Parse(p, &r)
		if r.NExpects > 1 || r.NExpects == 1 && (len(b) < 12 || b[2]&0x80 != 0) {
			t.Fatalf("%+v", r.Expects[0])
		}
	})
}
