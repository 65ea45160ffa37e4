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
// [ff02::1:2]:547; testdata/exchange.pcap is dhcpcd getting an address
// from Debian's dnsmasq: Solicit, Advertise, Request, Reply
// (testdata/capture.sh).

// wantTimeout is conntrackd's master timeout, in seconds, after each
// message type a client sends to servers.
var wantTimeout = map[int]uint32{1: 120, 3: 30, 4: 4, 5: 600, 6: 600, 8: 1, 9: 1, 11: 120}

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

// The real server's answers come from its own link-local address to the
// client's port: they match the expectations the client's Solicit and
// Request made (and would match no conntrack), and make none themselves.
func TestExchange(t *testing.T) {
	frames := pcaptest.Read(t, filepath.Join("testdata", "exchange.pcap"))
	if len(frames) != 4 {
		t.Fatalf("%d frames, want Solicit, Advertise, Request, Reply", len(frames))
	}
	steps := pcaptest.Replay(t, Parser{}, PrivLen, frames)
	if len(steps) != 4 {
		t.Fatalf("%d steps", len(steps))
	}
	for i, s := range steps {
		f, r := frames[i], s.Result
		if s.Err != nil {
			t.Errorf("%s: %v", typeName[f.Payload[0]], s.Err)
		}
		if i%2 == 1 { // Advertise, Reply: the server's answers
			prev := frames[i-1]
			if f.Dst != prev.Src || f.DstPort != prev.SrcPort || f.Src == prev.Dst {
				t.Errorf("%s from %v:%d to %v:%d does not answer %v:%d", typeName[f.Payload[0]], f.Src, f.SrcPort, f.Dst, f.DstPort, prev.Src, prev.SrcPort)
			}
			if r.NExpects != 0 || r.Timeout != 0 {
				t.Errorf("%s: %d expectations, timeout %d", typeName[f.Payload[0]], r.NExpects, r.Timeout)
			}
			continue
		}
		want := cthelper.Expect{Proto: unix.IPPROTO_UDP, Dst: f.Src, AnySrcPort: true, DstPort: 546, Flags: cthelper.ExpectPermanent}
		if r.NExpects != 1 || r.Expects[0] != want {
			t.Errorf("%s: %+v, want %+v", typeName[f.Payload[0]], r.Expects[:r.NExpects], want)
			continue
		}
		answer := frames[i+1]
		if answer.Dst != r.Expects[0].Dst || answer.DstPort != r.Expects[0].DstPort {
			t.Errorf("%s's expectation %+v does not match the answer to %v:%d", typeName[f.Payload[0]], r.Expects[0], answer.Dst, answer.DstPort)
		}
		if r.Timeout != wantTimeout[int(f.Payload[0])] {
			t.Errorf("%s: timeout %d", typeName[f.Payload[0]], r.Timeout)
		}
	}
	if got := [4]byte{frames[0].Payload[0], frames[1].Payload[0], frames[2].Payload[0], frames[3].Payload[0]}; got != [4]byte{1, 2, 3, 7} {
		t.Errorf("message types %v, want Solicit, Advertise, Request, Reply", got)
	}
}

var typeName = map[byte]string{1: "Solicit", 2: "Advertise", 3: "Request", 7: "Reply"}

func TestTypes(t *testing.T) {
	s := solicit(t)
	for typ := 0; typ < 256; typ++ {
		f := s
		f.Payload = append([]byte{byte(typ)}, s.Payload[1:]...)
		steps := pcaptest.Replay(t, Parser{}, PrivLen, []pcaptest.Frame{f})
		r := steps[0].Result
		want := wantTimeout[typ]
		if n := map[bool]int{true: 1, false: 0}[want != 0]; r.NExpects != n || r.Timeout != want {
			t.Errorf("type %d: %d expectations, timeout %d; want %d, %d", typ, r.NExpects, r.Timeout, n, want)
		}
	}
	uni := s
	uni.Dst = netip.MustParseAddr("2001:db8::547")
	short := s
	short.Payload = s.Payload[:3]
	for name, f := range map[string]pcaptest.Frame{"unicast": uni, "short": short} {
		if r := pcaptest.Replay(t, Parser{}, PrivLen, []pcaptest.Frame{f})[0].Result; r.NExpects != 0 || r.Timeout != 0 {
			t.Errorf("%s: %+v, timeout %d", name, r.Expects[:r.NExpects], r.Timeout)
		}
	}
}

func TestAllocs(t *testing.T) {
	s := solicit(t)
	p := &cthelper.Packet{Family: unix.AF_INET6, Proto: unix.IPPROTO_UDP, Info: cthelper.New, Payload: s.Payload}
	p.Orig.Src, p.Orig.Dst, p.Reply.Src, p.Reply.Dst = s.Src, s.Dst, s.Dst, s.Src
	var r cthelper.Result
	if n := testing.AllocsPerRun(100, func() { r.Reset(); _ = Parser{}.Parse(p, &r) }); n != 0 || r.NExpects != 1 || r.Timeout != 120 {
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
		if r.NExpects > 1 || r.NExpects == 1 && r.Timeout != wantTimeout[int(b[0])] || r.NExpects == 0 && r.Timeout != 0 {
			t.Fatal(r.NExpects, r.Timeout)
		}
	})
}
