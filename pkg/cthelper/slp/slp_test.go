package slp

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/gonfct/gonfct/pkg/cthelper"
	"golang.org/x/sys/unix"
)

// No SLP agent is packaged in Debian 12: the requests are constructed from
// RFC 2608 §8.1 (SLPv2 SrvRqst for service:printer, language "en") and
// RFC 2165 §7 (SLPv1 SrvRqst).

func srvRqst2() []byte {
	b := []byte{2, 1, 0, 0, 0, 0x20, 0, 0, 0, 0, 0x12, 0x34}
	b = binary.BigEndian.AppendUint16(b, 2)
	b = append(b, "en"...)
	b = binary.BigEndian.AppendUint16(b, 0) // PRList
	b = binary.BigEndian.AppendUint16(b, uint16(len("service:printer")))
	b = append(b, "service:printer"...)
	b = binary.BigEndian.AppendUint16(b, uint16(len("DEFAULT")))
	b = append(b, "DEFAULT"...)
	b = binary.BigEndian.AppendUint16(b, 0) // predicate
	b = binary.BigEndian.AppendUint16(b, 0) // SPI
	b[2], b[3], b[4] = byte(len(b)>>16), byte(len(b)>>8), byte(len(b))
	return b
}

func srvRqst1() []byte {
	b := []byte{1, 1, 0, 0, 0x20, 0, 'e', 'n', 0, 3, 0x12, 0x34}
	b = append(b, "service:printer//DEFAULT/"...)
	binary.BigEndian.PutUint16(b[2:], uint16(len(b)))
	return b
}

var (
	ua    = netip.MustParseAddr("192.0.2.1")
	group = netip.MustParseAddr("239.255.255.253")
)

func packet(dst netip.Addr, payload []byte) *cthelper.Packet {
	p := &cthelper.Packet{Family: unix.AF_INET, Proto: unix.IPPROTO_UDP, Info: cthelper.New, Payload: payload}
	if dst.Is6() {
		p.Family = unix.AF_INET6
	}
	src := ua
	if dst.Is6() {
		src = netip.MustParseAddr("fe80::1")
	}
	p.Orig.Src, p.Orig.Dst, p.Orig.SrcPort, p.Orig.DstPort = src, dst, 40427, 427
	p.Reply.Src, p.Reply.Dst, p.Reply.SrcPort, p.Reply.DstPort = dst, src, 427, 40427
	return p
}

func parse(p *cthelper.Packet) (cthelper.Result, error) {
	var r cthelper.Result
	r.Reset()
	err := Parser{}.Parse(p, &r)
	return r, err
}

func TestRequests(t *testing.T) {
	for name, c := range map[string]struct {
		dst  string
		b    []byte
		n    int
		err  error
		want netip.Addr
	}{
		"v2 to the group":       {"239.255.255.253", srvRqst2(), 1, nil, ua},
		"v1 to the group":       {"239.255.255.253", srvRqst1(), 1, nil, ua},
		"v2 broadcast":          {"255.255.255.255", srvRqst2(), 1, nil, ua},
		"v2 subnet broadcast":   {"192.0.2.255", srvRqst2(), 1, nil, ua},
		"v2 IPv6 group":         {"ff02::123", srvRqst2(), 1, nil, netip.MustParseAddr("fe80::1")},
		"unicast to a DA":       {"192.0.2.7", srvRqst2(), 0, nil, ua},
		"SrvReg is no request":  {"239.255.255.253", append([]byte{2, 3}, srvRqst2()[2:]...), 0, nil, ua},
		"version 3":             {"239.255.255.253", append([]byte{3}, srvRqst2()[1:]...), 0, errVersion, ua},
		"short v2":              {"239.255.255.253", srvRqst2()[:15], 0, errShort, ua},
		"short v1":              {"239.255.255.253", srvRqst1()[:11], 0, errShort, ua},
		"empty":                 {"239.255.255.253", nil, 0, errShort, ua},
		"AttrRqst":              {"239.255.255.253", append([]byte{2, 6}, srvRqst2()[2:]...), 1, nil, ua},
		"SrvTypeRqst":           {"239.255.255.253", append([]byte{2, 9}, srvRqst2()[2:]...), 1, nil, ua},
		"DAAdvert is no answer": {"239.255.255.253", append([]byte{2, 8}, srvRqst2()[2:]...), 0, nil, ua},
	} {
		r, err := parse(packet(netip.MustParseAddr(c.dst), c.b))
		if err != c.err || r.NExpects != c.n {
			t.Errorf("%s: %v, %d expectations", name, err, r.NExpects)
			continue
		}
		if c.n == 1 {
			want := cthelper.Expect{Proto: unix.IPPROTO_UDP, SrcPort: 427, Dst: c.want, DstPort: 40427, Flags: cthelper.ExpectPermanent}
			if r.Expects[0] != want {
				t.Errorf("%s: %+v, want %+v", name, r.Expects[0], want)
			}
		}
	}
}

func TestAllocs(t *testing.T) {
	p := packet(group, srvRqst2())
	var r cthelper.Result
	if n := testing.AllocsPerRun(100, func() { r.Reset(); _ = Parser{}.Parse(p, &r) }); n != 0 || r.NExpects != 1 {
		t.Errorf("%v allocations", n)
	}
}

func FuzzParse(f *testing.F) {
	f.Add(srvRqst2())
	f.Add(srvRqst1())
	f.Fuzz(func(t *testing.T, b []byte) {
		r, _ := parse(packet(group, b))
		if r.NExpects > 1 || r.NExpects == 1 && (len(b) < headerLen1 || b[0] != 1 && b[0] != 2) {
			t.Fatalf("%+v", r.Expects[0])
		}
	})
}
