package dhcpv6

import (
	"net/netip"
	"path/filepath"
	"testing"

	"github.com/gonfct/gonfct/pkg/cthelper"
	"github.com/gonfct/gonfct/pkg/cthelper/internal/pcaptest"
	"golang.org/x/sys/unix"
)

// testdata/solicit.pcap is a real Solicit from Debian's dhcpcd to
// [ff02::1:2]:547 (testdata/capture.sh).

func solicit(t testing.TB) pcaptest.Frame {
	return pcaptest.Read(t, filepath.Join("testdata", "solicit.pcap"))[0]
}

func TestCapture(t *testing.T) {
	s := solicit(t)
	got := pcaptest.Expects(pcaptest.Replay(t, Parser{}, PrivLen, []pcaptest.Frame{s}))
	want := cthelper.Expect{Proto: unix.IPPROTO_UDP, Dst: s.Src, AnySrcPort: true, DstPort: 546, Flags: cthelper.ExpectPermanent}
	if len(got) != 1 || got[0] != want {
		t.Errorf("%+v, want %+v", got, want)
	}
}

func TestTypes(t *testing.T) {
	s := solicit(t)
	for typ := 0; typ < 256; typ++ {
		f := s
		f.Payload = append([]byte{byte(typ)}, s.Payload[1:]...)
		n := len(pcaptest.Expects(pcaptest.Replay(t, Parser{}, PrivLen, []pcaptest.Frame{f})))
		if want := map[bool]int{true: 1, false: 0}[clientMessage[typ]]; n != want {
			t.Errorf("type %d: %d expectations", typ, n)
		}
	}
	uni := s
	uni.Dst = netip.MustParseAddr("2001:db8::547")
	short := s
	short.Payload = s.Payload[:3]
	for name, f := range map[string]pcaptest.Frame{"unicast": uni, "short": short} {
		if got := pcaptest.Expects(pcaptest.Replay(t, Parser{}, PrivLen, []pcaptest.Frame{f})); len(got) != 0 {
			t.Errorf("%s: %+v", name, got)
		}
	}
}

func TestAllocs(t *testing.T) {
	s := solicit(t)
	p := &cthelper.Packet{Family: unix.AF_INET6, Proto: unix.IPPROTO_UDP, Info: cthelper.New, Payload: s.Payload}
	p.Orig.Src, p.Orig.Dst, p.Reply.Src, p.Reply.Dst = s.Src, s.Dst, s.Dst, s.Src
	var r cthelper.Result
	if n := testing.AllocsPerRun(100, func() { r.Reset(); _ = Parser{}.Parse(p, &r) }); n != 0 || r.NExpects != 1 {
		t.Errorf("%v allocations", n)
	}
}

func FuzzParse(f *testing.F) {
	f.Add(solicit(f).Payload)
	f.Fuzz(func(t *testing.T, b []byte) {
		p := &cthelper.Packet{Family: unix.AF_INET6, Proto: unix.IPPROTO_UDP, Info: cthelper.New, Payload: b}
		p.Orig.Dst = netip.MustParseAddr("ff02::1:2")
		var r cthelper.Result
		r.Reset()
		_ = Parser{}.Parse(p, &r)
		if r.NExpects > 1 || r.NExpects == 1 && !clientMessage[b[0]] {
			t.Fatal(r.Expects[0])
		}
	})
}
