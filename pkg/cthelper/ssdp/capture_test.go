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

// The captures of testdata/capture.sh: a control point 192.0.2.1 /
// 2001:db8::1 and miniupnpd on 192.0.2.20 / 2001:db8::20, HTTP on port
// 5000, event callback on port 42000.
var (
	capCP4, capDev4 = netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.20")
	capCP6, capDev6 = netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::20")
)

const capHTTPPort, capCallbackPort = 5000, 42000

func replayFile(t *testing.T, p cthelper.Parser, name string) []pcaptest.Step {
	t.Helper()
	steps := pcaptest.Replay(t, p, PrivLen, pcaptest.Read(t, filepath.Join("testdata", name+".pcap")))
	if len(steps) == 0 {
		t.Fatalf("%s: no packet with a payload", name)
	}
	return steps
}

func loose(t testing.TB) cthelper.Parser {
	p, err := New(cthelper.Options{"loose": "yes"})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// upnpc searches, miniupnpd answers twice from port 1900 with
// "LOCATION: http://192.0.2.20:5000/rootDesc.xml": the search expects the
// answers, each answer the control point's connection to the device's
// HTTP port.
func TestMiniupnpdAnswer4(t *testing.T) {
	steps := replayFile(t, strict(t), "answer4")
	if len(steps) != 3 {
		t.Fatalf("%d packets, want the search and two answers", len(steps))
	}
	search := steps[0]
	if !strings.HasPrefix(string(search.Packet.Payload), "M-SEARCH * HTTP/1.1") {
		t.Fatalf("first packet %q", search.Packet.Payload)
	}
	want := cthelper.Expect{Proto: unix.IPPROTO_UDP, Dst: capCP4, AnySrcPort: true, DstPort: search.Packet.SrcPort,
		Flags: cthelper.ExpectPermanent, Helper: "ssdp"}
	if search.Err != nil || search.Result.NExpects != 1 || search.Result.Expects[0] != want {
		t.Errorf("search: %v %+v, want %+v", search.Err, search.Result.Expects[:search.Result.NExpects], want)
	}
	loc := cthelper.Expect{Proto: unix.IPPROTO_TCP, Src: capCP4, Dst: capDev4, AnySrcPort: true, DstPort: capHTTPPort,
		Flags: cthelper.ExpectPermanent, Helper: "ssdp"}
	for i, st := range steps[1:] {
		if !strings.Contains(string(st.Packet.Payload), "\r\nLOCATION: http://192.0.2.20:5000/rootDesc.xml\r\n") || st.Packet.Src != capDev4 || st.Packet.SrcPort != 1900 {
			t.Fatalf("answer %d: %s:%d %q", i, st.Packet.Src, st.Packet.SrcPort, st.Packet.Payload)
		}
		// The answer matched the search's expectation.
		if st.Packet.Dst != want.Dst || st.Packet.DstPort != want.DstPort {
			t.Errorf("answer %d to %s:%d, outside the search's expectation", i, st.Packet.Dst, st.Packet.DstPort)
		}
		if st.Err != nil || st.Result.NExpects != 1 || st.Result.Expects[0] != loc {
			t.Errorf("answer %d: %v %+v, want %+v", i, st.Err, st.Result.Expects[:st.Result.NExpects], loc)
		}
	}
}

// Over IPv6 miniupnpd answers the search to ff02::c from its link-local
// address with "LOCATION: http://[2001:db8::20]:5000/rootDesc.xml". The
// strict parser cannot tie that address to the device and says to use
// loose=yes; the loose one expects the connection from any of the control
// point's addresses (upnpc connects from 2001:db8::1, not from the
// link-local address the answer went to).
func TestMiniupnpdAnswer6(t *testing.T) {
	steps := replayFile(t, strict(t), "answer6")
	if len(steps) != 2 {
		t.Fatalf("%d packets, want the search and the answer", len(steps))
	}
	search, answer := steps[0], steps[1]
	cpLL, devLL := search.Packet.Src, answer.Packet.Src
	if !cpLL.IsLinkLocalUnicast() || !devLL.IsLinkLocalUnicast() || search.Packet.Dst != group6LL {
		t.Fatalf("search %s → %s, answer from %s: want link-local addresses and ff02::c", cpLL, search.Packet.Dst, devLL)
	}
	want := cthelper.Expect{Proto: unix.IPPROTO_UDP, Dst: cpLL, AnySrcPort: true, DstPort: search.Packet.SrcPort,
		Flags: cthelper.ExpectPermanent, Helper: "ssdp"}
	if search.Err != nil || search.Result.NExpects != 1 || search.Result.Expects[0] != want {
		t.Errorf("search: %v %+v, want %+v", search.Err, search.Result.Expects[:search.Result.NExpects], want)
	}
	if !strings.Contains(string(answer.Packet.Payload), "\r\nLOCATION: http://[2001:db8::20]:5000/rootDesc.xml\r\n") {
		t.Fatalf("answer %q", answer.Packet.Payload)
	}
	if answer.Err != errLinkLocal || answer.Result.NExpects != 0 {
		t.Errorf("strict answer: %v %+v, want %v", answer.Err, answer.Result.Expects[:answer.Result.NExpects], errLinkLocal)
	}
	steps = replayFile(t, loose(t), "answer6")
	loc := cthelper.Expect{Proto: unix.IPPROTO_TCP, Dst: capDev6, AnySrcPort: true, DstPort: capHTTPPort,
		Flags: cthelper.ExpectPermanent, Helper: "ssdp"}
	if st := steps[1]; st.Err != nil || st.Result.NExpects != 1 || st.Result.Expects[0] != loc {
		t.Errorf("loose answer: %v %+v, want %+v", st.Err, st.Result.Expects[:st.Result.NExpects], loc)
	}
}

// miniupnpd's ssdp:alive announcements to the group carry a LOCATION too,
// but are not searches and not answers: nothing is expected.
func TestMiniupnpdAnnouncements(t *testing.T) {
	for _, st := range replayFile(t, strict(t), "alive4") {
		if !strings.HasPrefix(string(st.Packet.Payload), "NOTIFY * HTTP/1.1\r\n") || !strings.Contains(string(st.Packet.Payload), "\r\nNTS: ssdp:alive\r\n") {
			t.Fatalf("not an announcement: %q", st.Packet.Payload)
		}
		if st.Err != nil || st.Result.NExpects != 0 {
			t.Errorf("announcement: %v %+v", st.Err, st.Result.Expects[:st.Result.NExpects])
		}
	}
}

// curl's SUBSCRIBE with "CALLBACK: <http://CP:42000/notify>" expects
// miniupnpd's event connection, and the NOTIFY on it renews the
// expectation; the HTTP answers on both connections expect nothing.
func TestMiniupnpdEvents(t *testing.T) {
	for _, c := range []struct {
		file    string
		cp, dev netip.Addr
	}{{"event4", capCP4, capDev4}, {"event6", capCP6, capDev6}} {
		steps := replayFile(t, strict(t), c.file)
		want := cthelper.Expect{Proto: unix.IPPROTO_TCP, Src: c.dev, Dst: c.cp, AnySrcPort: true, DstPort: capCallbackPort, Helper: "ssdp"}
		var subscribes, notifies int
		for _, st := range steps {
			p, r := &st.Packet, &st.Result
			switch msg := string(p.Payload); {
			case strings.HasPrefix(msg, "SUBSCRIBE /evt/IPConn HTTP/1.1\r\n"):
				subscribes++
				if p.Src != c.cp || p.DstPort != capHTTPPort || st.Err != nil || r.NExpects != 1 || r.Expects[0] != want || r.NRewrites != 0 {
					t.Errorf("%s: SUBSCRIBE %s→%s:%d: %v %+v, want %+v", c.file, p.Src, p.Dst, p.DstPort, st.Err, r.Expects[:r.NExpects], want)
				}
			case strings.HasPrefix(msg, "NOTIFY /notify HTTP/1.1\r\n"):
				notifies++
				if !strings.Contains(msg, "\r\nNT: upnp:event\r\n") || p.Src != c.dev || p.DstPort != capCallbackPort {
					t.Errorf("%s: NOTIFY %s→%s:%d %q", c.file, p.Src, p.Dst, p.DstPort, msg)
				}
				if st.Err != nil || r.NExpects != 1 || r.Expects[0] != want {
					t.Errorf("%s: NOTIFY: %v %+v, want %+v", c.file, st.Err, r.Expects[:r.NExpects], want)
				}
			case strings.HasPrefix(msg, "HTTP/1."):
				if p.Dir != cthelper.Reply || st.Err != nil || r.NExpects != 0 {
					t.Errorf("%s: answer %q (%v): %v %+v", c.file, msg[:12], p.Dir, st.Err, r.Expects[:r.NExpects])
				}
			default:
				t.Errorf("%s: unexpected payload %q", c.file, msg)
			}
		}
		if subscribes != 1 || notifies != 1 {
			t.Errorf("%s: %d SUBSCRIBE and %d NOTIFY requests, want one each", c.file, subscribes, notifies)
		}
	}
}

// The IPv6 rules for LOCATION apart from the capture: a link-local URL of
// the device itself keeps the receiver's address as the source; over IPv4
// a third host is still errThirdHost.
func TestLocationScopes(t *testing.T) {
	devLL, cpLL := netip.MustParseAddr("fe80::20"), netip.MustParseAddr("fe80::1")
	msg := strings.Replace(answer, "http://192.0.2.20:49152/", "http://[fe80::20]:49152/", 1)
	r, err := parse(t, strict(t), conn(unix.IPPROTO_UDP, devLL, 1900, cpLL, 43479, cthelper.Related, msg))
	if err != nil || r.NExpects != 1 || r.Expects[0].Src != cpLL || r.Expects[0].Dst != devLL {
		t.Errorf("link-local LOCATION: %v %+v", err, r.Expects[:r.NExpects])
	}
	// A global device answering a global control point: exact source.
	g1, g2 := netip.MustParseAddr("2001:db8::20"), netip.MustParseAddr("2001:db8::1")
	msg = strings.Replace(answer, "http://192.0.2.20:49152/", "http://[2001:db8::20]:49152/", 1)
	r, err = parse(t, strict(t), conn(unix.IPPROTO_UDP, g1, 1900, g2, 43479, cthelper.Related, msg))
	if err != nil || r.NExpects != 1 || r.Expects[0].Src != g2 {
		t.Errorf("global LOCATION: %v %+v", err, r.Expects[:r.NExpects])
	}
	// A global device naming another global address: a third host.
	msg = strings.Replace(answer, "http://192.0.2.20:49152/", "http://[2001:db8::99]:49152/", 1)
	if _, err := parse(t, strict(t), conn(unix.IPPROTO_UDP, g1, 1900, g2, 43479, cthelper.Related, msg)); err != errThirdHost {
		t.Errorf("global third host: %v", err)
	}
}
