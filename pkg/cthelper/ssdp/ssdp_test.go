package ssdp

import (
	"net/netip"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gonfct/gonfct/pkg/cthelper"
	"github.com/gonfct/gonfct/pkg/cthelper/internal/pcaptest"
	"golang.org/x/sys/unix"
)

// testdata holds real exchanges (testdata/capture.sh) between Debian's
// upnpc (miniupnpc), curl and Debian's UPnP device daemon miniupnpd; the
// tests on them are in capture_test.go. The messages below, in the form
// the UPnP Device Architecture 1.1 gives them, are for the cases no capture
// shows (NAT, malformed headers).

func strict(t testing.TB) cthelper.Parser {
	p, err := New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestMSearchCaptures(t *testing.T) {
	for _, c := range []struct {
		file  string
		flows int
	}{{"msearch4", 1}, {"msearch6", 2}} {
		frames := pcaptest.Read(t, filepath.Join("testdata", c.file+".pcap"))
		steps := pcaptest.Replay(t, strict(t), PrivLen, frames)
		got := pcaptest.Expects(steps)
		if len(got) != len(frames) {
			t.Fatalf("%s: %d expectations for %d searches", c.file, len(got), len(frames))
		}
		for i, e := range got {
			f := frames[i]
			want := cthelper.Expect{Proto: unix.IPPROTO_UDP, Dst: f.Src, AnySrcPort: true, DstPort: f.SrcPort,
				Flags: cthelper.ExpectPermanent, Helper: "ssdp"}
			if e != want {
				t.Errorf("%s #%d: %+v, want %+v", c.file, i, e, want)
			}
		}
	}
}

var (
	cp     = netip.MustParseAddr("192.0.2.1")  // control point
	dev    = netip.MustParseAddr("192.0.2.20") // device
	natted = netip.MustParseAddr("203.0.113.1")
)

const answer = "HTTP/1.1 200 OK\r\nCACHE-CONTROL: max-age=120\r\nST: upnp:rootdevice\r\nUSN: uuid:2fac1234-31f8-11b4-a222-08002b34c003::upnp:rootdevice\r\n" +
	"EXT:\r\nSERVER: Linux/6.1 UPnP/1.1 gonfct-test/1.0\r\nLocation: http://192.0.2.20:49152/rootDesc.xml\r\n\r\n"

const subscribeMsg = "SUBSCRIBE /evt/L3F HTTP/1.1\r\nHOST: 192.0.2.20:49152\r\nUSER-AGENT: Linux/6.1 UPnP/1.1 gonfct-test/1.0\r\n" +
	"CALLBACK: <http://192.0.2.1:42000/notify>\r\nNT: upnp:event\r\nTIMEOUT: Second-1800\r\n\r\n"

const notifyMsg = "NOTIFY /notify HTTP/1.1\r\nHOST: 192.0.2.1:42000\r\nCONTENT-TYPE: text/xml; charset=\"utf-8\"\r\nNT: upnp:event\r\nNTS: upnp:propchange\r\nSID: uuid:1\r\nSEQ: 0\r\nCONTENT-LENGTH: 0\r\n\r\n"

// conn builds a packet in the original direction of a conntrack a → b.
func conn(proto uint8, a netip.Addr, ap uint16, b netip.Addr, bp uint16, info cthelper.CTInfo, payload string) *cthelper.Packet {
	p := &cthelper.Packet{Family: unix.AF_INET, Proto: proto, Info: info, Src: a, Dst: b, SrcPort: ap, DstPort: bp, Payload: []byte(payload)}
	if a.Is6() {
		p.Family = unix.AF_INET6
	}
	p.Orig.Src, p.Orig.Dst, p.Orig.SrcPort, p.Orig.DstPort = a, b, ap, bp
	p.Reply.Src, p.Reply.Dst, p.Reply.SrcPort, p.Reply.DstPort = b, a, bp, ap
	return p
}

func parse(t *testing.T, s cthelper.Parser, p *cthelper.Packet) (*cthelper.Result, error) {
	t.Helper()
	r := new(cthelper.Result)
	r.Reset()
	err := s.Parse(p, r)
	return r, err
}

func TestLocation(t *testing.T) {
	// The answer arrives on the conntrack the M-SEARCH expectation made:
	// device:1900 → control point:43479, RELATED.
	r, err := parse(t, strict(t), conn(unix.IPPROTO_UDP, dev, 1900, cp, 43479, cthelper.Related, answer))
	want := cthelper.Expect{Proto: unix.IPPROTO_TCP, Src: cp, Dst: dev, AnySrcPort: true, DstPort: 49152, Flags: cthelper.ExpectPermanent, Helper: "ssdp"}
	if err != nil || r.NExpects != 1 || r.Expects[0] != want {
		t.Errorf("%v %+v", err, r.Expects[:r.NExpects])
	}
	for name, c := range map[string]struct {
		loc string
		err error
		n   int
	}{
		"default port":    {"LOCATION: http://192.0.2.20/desc.xml", nil, 1},
		"third host":      {"LOCATION: http://198.51.100.3:80/", errThirdHost, 0},
		"host name":       {"LOCATION: http://router.lan:80/", errBadURL, 0},
		"IPv6 on IPv4":    {"LOCATION: http://[2001:db8::1]:80/", errBadURL, 0},
		"https":           {"LOCATION: https://192.0.2.20:443/", errBadURL, 0},
		"port 0":          {"LOCATION: http://192.0.2.20:0/", errBadURL, 0},
		"port over 65535": {"LOCATION: http://192.0.2.20:65536/", errBadURL, 0},
		"junk after port": {"LOCATION: http://192.0.2.20:80x/", errBadURL, 0},
		"no location":     {"X-LOCATION: http://192.0.2.20:80/", nil, 0},
	} {
		msg := strings.Replace(answer, "Location: http://192.0.2.20:49152/rootDesc.xml", c.loc, 1)
		r, err := parse(t, strict(t), conn(unix.IPPROTO_UDP, dev, 1900, cp, 43479, cthelper.Related, msg))
		if err != c.err || r.NExpects != c.n {
			t.Errorf("%s: %v %+v", name, err, r.Expects[:r.NExpects])
		}
	}
	loose, err := New(cthelper.Options{"loose": "yes"})
	if err != nil {
		t.Fatal(err)
	}
	msg := strings.Replace(answer, "192.0.2.20:49152", "198.51.100.3:8080", 1)
	if r, err := parse(t, loose, conn(unix.IPPROTO_UDP, dev, 1900, cp, 43479, cthelper.Related, msg)); err != nil || r.NExpects != 1 || r.Expects[0].Dst != netip.MustParseAddr("198.51.100.3") {
		t.Errorf("loose: %v %+v", err, r.Expects[:r.NExpects])
	}
	// IPv6 answer.
	dev6, cp6 := netip.MustParseAddr("fe80::20"), netip.MustParseAddr("fe80::1")
	msg = strings.Replace(answer, "http://192.0.2.20:49152/", "http://[fe80::20]:49152/", 1)
	if r, err := parse(t, strict(t), conn(unix.IPPROTO_UDP, dev6, 1900, cp6, 43479, cthelper.Related, msg)); err != nil || r.NExpects != 1 || r.Expects[0].Dst != dev6 || r.Expects[0].Src != cp6 {
		t.Errorf("IPv6: %v %+v", err, r.Expects[:r.NExpects])
	}
}

func TestSubscribeAndNotify(t *testing.T) {
	r, err := parse(t, strict(t), conn(unix.IPPROTO_TCP, cp, 40100, dev, 49152, cthelper.Established, subscribeMsg))
	want := cthelper.Expect{Proto: unix.IPPROTO_TCP, Src: dev, Dst: cp, AnySrcPort: true, DstPort: 42000, Helper: "ssdp"}
	if err != nil || r.NExpects != 1 || r.Expects[0] != want || r.NRewrites != 0 {
		t.Errorf("SUBSCRIBE: %v %+v", err, r)
	}
	// The callback names another host: refused.
	msg := strings.Replace(subscribeMsg, "http://192.0.2.1:42000", "http://192.0.2.99:42000", 1)
	if r, err := parse(t, strict(t), conn(unix.IPPROTO_TCP, cp, 40100, dev, 49152, cthelper.Established, msg)); err != errCallback || r.NExpects != 0 {
		t.Errorf("foreign callback: %v %d", err, r.NExpects)
	}
	// NOTIFY on the callback connection renews.
	r, err = parse(t, strict(t), conn(unix.IPPROTO_TCP, dev, 50000, cp, 42000, cthelper.Established, notifyMsg))
	if err != nil || r.NExpects != 1 || r.Expects[0] != want {
		t.Errorf("NOTIFY: %v %+v", err, r.Expects[:r.NExpects])
	}
	// Neither in the reply direction, nor GET.
	p := conn(unix.IPPROTO_TCP, cp, 40100, dev, 49152, cthelper.Established, subscribeMsg)
	p.Dir, p.Info = cthelper.Reply, cthelper.EstablishedReply
	if r, _ := parse(t, strict(t), p); r.NExpects != 0 {
		t.Error("reply-direction SUBSCRIBE")
	}
	if r, _ := parse(t, strict(t), conn(unix.IPPROTO_TCP, cp, 40100, dev, 49152, cthelper.Established, "GET /desc.xml HTTP/1.1\r\n\r\n")); r.NExpects != 0 {
		t.Error("GET")
	}
}

func TestSubscribeSNAT(t *testing.T) {
	for _, c := range []struct {
		name            string
		cp, dev, natted string
		url, rewritten  string
	}{
		{"IPv4", "192.0.2.1", "198.51.100.20", "203.0.113.1", "http://192.0.2.1:42000/notify", "http://203.0.113.1:42000/notify"},
		{"IPv6", "2001:db8::1", "2001:db8:1::20", "2001:db8:ff::1", "http://[2001:db8::1]:42000/notify", "http://[2001:db8:ff::1]:42000/notify"},
		{"IPv4 default port", "192.0.2.1", "198.51.100.20", "203.0.113.100", "http://192.0.2.1/notify", "http://203.0.113.100/notify"},
	} {
		msg := strings.Replace(subscribeMsg, "http://192.0.2.1:42000/notify", c.url, 1)
		p := conn(unix.IPPROTO_TCP, netip.MustParseAddr(c.cp), 40100, netip.MustParseAddr(c.dev), 49152, cthelper.Established, msg)
		p.Reply.Dst, p.Reply.DstPort = netip.MustParseAddr(c.natted), 61000 // SNAT
		r, err := parse(t, strict(t), p)
		if err != nil || r.NExpects != 1 || r.NRewrites != 1 {
			t.Fatalf("%s: %v %+v", c.name, err, r)
		}
		e := r.Expects[0]
		if e.Dst != p.Reply.Dst || !e.NAT || e.NATDir != cthelper.Reply || e.NATAddr != p.Orig.Src || e.NATPort != e.DstPort {
			t.Errorf("%s: %+v", c.name, e)
		}
		if got, want := string(pcaptest.Apply(t, p.Payload, r)), strings.Replace(msg, c.url, c.rewritten, 1); got != want {
			t.Errorf("%s: rewritten\n%q\nwant\n%q", c.name, got, want)
		}
	}
	_ = natted
}

// dnatAnswer is a device's answer to a unicast search the control point
// sent to public:1900, destination-NATed to the device: the reply
// direction of the search's conntrack.
func dnatAnswer(cp, public, dev netip.Addr, msg string) *cthelper.Packet {
	p := conn(unix.IPPROTO_UDP, cp, 43479, public, 1900, cthelper.EstablishedReply, msg)
	p.Dir, p.Src, p.Dst, p.SrcPort, p.DstPort = cthelper.Reply, dev, cp, 1900, 43479
	p.Reply.Src = dev
	return p
}

// A device behind destination NAT names its own address in LOCATION: the
// URL is rewritten to the address the control point searched, whatever
// its length, and the connection to it follows the master's translation
// to the device.
func TestLocationDNAT(t *testing.T) {
	for _, c := range []struct {
		name, cp, public, dev string
		url, rewritten        string
	}{
		{"IPv4 longer", "10.1.1.2", "203.0.113.254", "10.2.0.5", "http://10.2.0.5:5000/rootDesc.xml", "http://203.0.113.254:5000/rootDesc.xml"},
		{"IPv4 shorter", "192.0.2.1", "10.1.1.1", "198.51.100.20", "http://198.51.100.20:5000/rootDesc.xml", "http://10.1.1.1:5000/rootDesc.xml"},
		{"IPv6", "2001:db8::1", "2001:db8:ff::1", "fd00:2::5", "http://[fd00:2::5]:5000/rootDesc.xml", "http://[2001:db8:ff::1]:5000/rootDesc.xml"},
		{"already public", "192.0.2.1", "203.0.113.1", "198.51.100.20", "http://203.0.113.1:5000/rootDesc.xml", "http://203.0.113.1:5000/rootDesc.xml"},
	} {
		cp, public, dev := netip.MustParseAddr(c.cp), netip.MustParseAddr(c.public), netip.MustParseAddr(c.dev)
		msg := strings.Replace(answer, "http://192.0.2.20:49152/rootDesc.xml", c.url, 1)
		p := dnatAnswer(cp, public, dev, msg)
		r, err := parse(t, strict(t), p)
		want := cthelper.Expect{Proto: unix.IPPROTO_TCP, Src: cp, Dst: public, AnySrcPort: true, DstPort: 5000, Flags: cthelper.ExpectPermanent, Helper: "ssdp",
			NAT: true, NATDir: cthelper.Original, NATAddr: dev, NATPort: 5000}
		if err != nil || r.NExpects != 1 || r.Expects[0] != want {
			t.Errorf("%s: %v %+v, want %+v", c.name, err, r.Expects[:r.NExpects], want)
			continue
		}
		if got, want := string(pcaptest.Apply(t, p.Payload, r)), strings.Replace(msg, c.url, c.rewritten, 1); got != want {
			t.Errorf("%s: rewritten\n%q\nwant\n%q", c.name, got, want)
		}
	}
	// A third host stays refused; the answers to a multicast search (an
	// original-direction conntrack of the answer's own) are not rewritten.
	msg := strings.Replace(answer, "192.0.2.20:49152", "198.51.100.99:5000", 1)
	if r, err := parse(t, strict(t), dnatAnswer(cp, natted, dev, msg)); err != errThirdHost || r.NExpects != 0 {
		t.Errorf("third host behind DNAT: %v %+v", err, r.Expects[:r.NExpects])
	}
	p := conn(unix.IPPROTO_UDP, dev, 1900, natted, 43479, cthelper.Related, answer)
	p.Reply.Src = cp // the answer's conntrack translated to the searcher
	if r, err := parse(t, strict(t), p); err != nil || r.NExpects != 1 || r.NRewrites != 0 || r.Expects[0].NAT {
		t.Errorf("answer to a multicast search, translated: %v %+v", err, r)
	}
}

func TestMSearchSNATAndNegative(t *testing.T) {
	frames := pcaptest.Read(t, filepath.Join("testdata", "msearch4.pcap"))
	f := frames[0]
	p := conn(unix.IPPROTO_UDP, f.Src, f.SrcPort, f.Dst, f.DstPort, cthelper.New, string(f.Payload))
	p.Reply.Dst, p.Reply.DstPort = natted, 61001
	r, _ := parse(t, strict(t), p)
	if r.NExpects != 1 || r.Expects[0].Dst != natted || r.Expects[0].DstPort != 61001 || !r.Expects[0].NAT ||
		r.Expects[0].NATAddr != f.Src || r.Expects[0].NATPort != f.SrcPort || r.Expects[0].NATDir != cthelper.Reply {
		t.Errorf("SNAT M-SEARCH: %+v", r.Expects[:r.NExpects])
	}
	// Unicast M-SEARCH, NOTIFY advertisements to the group: nothing.
	u := conn(unix.IPPROTO_UDP, f.Src, f.SrcPort, dev, 1900, cthelper.New, string(f.Payload))
	if r, _ := parse(t, strict(t), u); r.NExpects != 0 {
		t.Error("unicast M-SEARCH")
	}
	adv := conn(unix.IPPROTO_UDP, dev, 1900, f.Dst, 1900, cthelper.New, "NOTIFY * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nLOCATION: http://192.0.2.20:80/\r\n\r\n")
	if r, _ := parse(t, strict(t), adv); r.NExpects != 0 {
		t.Error("NOTIFY advertisement")
	}
	for n := 0; n < len(answer); n++ {
		_, _ = parse(t, strict(t), conn(unix.IPPROTO_UDP, dev, 1900, cp, 43479, cthelper.Related, answer[:n]))
	}
	for n := 0; n < len(subscribeMsg); n++ {
		_, _ = parse(t, strict(t), conn(unix.IPPROTO_TCP, cp, 40100, dev, 49152, cthelper.Established, subscribeMsg[:n]))
	}
}

func TestAllocs(t *testing.T) {
	s := strict(t)
	pkts := []*cthelper.Packet{
		conn(unix.IPPROTO_UDP, dev, 1900, cp, 43479, cthelper.Related, answer),
		conn(unix.IPPROTO_TCP, cp, 40100, dev, 49152, cthelper.Established, subscribeMsg),
	}
	sn := conn(unix.IPPROTO_TCP, cp, 40100, dev, 49152, cthelper.Established, subscribeMsg)
	sn.Reply.Dst = natted
	pkts = append(pkts, sn, dnatAnswer(cp, natted, dev, answer))
	var r cthelper.Result
	for _, p := range pkts {
		if n := testing.AllocsPerRun(100, func() { r.Reset(); _ = s.Parse(p, &r) }); n != 0 || r.NExpects != 1 {
			t.Errorf("%q: %v allocations, %d expectations", p.Payload[:10], n, r.NExpects)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(answer), uint8(0))
	f.Add([]byte(subscribeMsg), uint8(1))
	f.Add([]byte(notifyMsg), uint8(2))
	f.Add(pcaptest.Read(f, filepath.Join("testdata", "msearch4.pcap"))[0].Payload, uint8(3))
	f.Add([]byte(answer), uint8(4))
	s := strict(f)
	f.Fuzz(func(t *testing.T, b []byte, kind uint8) {
		var p *cthelper.Packet
		switch kind % 5 {
		case 0:
			p = conn(unix.IPPROTO_UDP, dev, 1900, cp, 43479, cthelper.Related, "")
		case 1:
			p = conn(unix.IPPROTO_TCP, cp, 40100, dev, 49152, cthelper.Established, "")
			p.Reply.Dst = natted
		case 2:
			p = conn(unix.IPPROTO_TCP, dev, 50000, cp, 42000, cthelper.Established, "")
		case 3:
			p = conn(unix.IPPROTO_UDP, cp, 43479, group4, 1900, cthelper.New, "")
		case 4:
			p = dnatAnswer(cp, natted, dev, "")
		}
		p.Payload = b
		var r cthelper.Result
		r.Reset()
		_ = s.Parse(p, &r)
		if r.NExpects > 1 {
			t.Fatalf("%d expectations", r.NExpects)
		}
		for _, w := range r.Rewrites[:r.NRewrites] {
			if w.Off < 0 || w.Off+w.Len > len(b) {
				t.Fatalf("rewrite out of the payload: %+v", w)
			}
		}
		if r.NExpects == 1 && kind%5 == 0 && r.Expects[0].Dst != dev {
			t.Fatalf("LOCATION to a third host: %+v", r.Expects[0])
		}
		if r.NExpects == 1 && kind%5 == 4 && (r.Expects[0].Dst != natted || r.Expects[0].NATAddr != dev) {
			t.Fatalf("LOCATION behind DNAT to another host: %+v", r.Expects[0])
		}
	})
}
