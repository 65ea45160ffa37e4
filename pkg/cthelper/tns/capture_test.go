package tns

import (
	"encoding/binary"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gonfct/gonfct/pkg/cthelper"
	"github.com/gonfct/gonfct/pkg/cthelper/internal/pcaptest"
	"golang.org/x/sys/unix"
)

// The captures of testdata/capture.sh: tnspeer.py's client and server on
// a loopback, the server redirecting the client to its dispatchers on
// ports 40521 (the address inline in the REDIRECT) and 40522 (in the
// DATA packet after an empty REDIRECT), each followed by DATA exchanges
// on the listener connection.

func replayFile(t *testing.T, p cthelper.Parser, name string) []pcaptest.Step {
	t.Helper()
	steps := pcaptest.Replay(t, p, PrivLen, pcaptest.Read(t, filepath.Join("testdata", name+".pcap")))
	if len(steps) == 0 {
		t.Fatalf("%s: no packet with a payload", name)
	}
	return steps
}

func TestCapturedRedirects(t *testing.T) {
	for _, c := range []struct{ name, host string }{{"redirect4", "127.0.0.1"}, {"redirect6", "::1"}} {
		host := netip.MustParseAddr(c.host)
		steps := replayFile(t, strict(t), c.name)
		var got []cthelper.Expect
		dispatched := map[uint16]bool{}
		for _, st := range steps {
			if st.Err != nil {
				t.Errorf("%s: %q: %v", c.name, st.Packet.Payload, st.Err)
			}
			if st.Result.NRewrites != 0 {
				t.Errorf("%s: a rewrite without NAT", c.name)
			}
			got = append(got, st.Result.Expects[:st.Result.NExpects]...)
			if st.Packet.Orig.DstPort != 1521 {
				dispatched[st.Packet.Orig.DstPort] = true
			}
		}
		var want []cthelper.Expect
		for _, port := range []uint16{40521, 40522} {
			want = append(want, cthelper.Expect{Proto: unix.IPPROTO_TCP, Src: host, Dst: host, AnySrcPort: true, DstPort: port})
			// The client then dialled that port: the expectation was the
			// one it needed.
			if !dispatched[port] {
				t.Errorf("%s: no connection to the dispatcher on port %d", c.name, port)
			}
		}
		if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
			t.Errorf("%s: expectations %+v, want %+v", c.name, got, want)
		}
	}
}

// The same conversations as if the client had dialled another address of
// a longer or shorter text, destination-NATed to the server: both
// redirects are rewritten to name that address, the TNS lengths follow,
// and the expectations follow the NAT.
func TestCapturedRedirectsDNAT(t *testing.T) {
	for _, c := range []struct{ name, public string }{
		{"redirect4", "203.0.113.254"}, {"redirect4", "10.1.1.1"}, {"redirect6", "2001:db8:113::5"},
	} {
		public := netip.MustParseAddr(c.public)
		p := strict(t)
		natted := parserFunc(func(pk *cthelper.Packet, r *cthelper.Result) error {
			if pk.Orig.DstPort == 1521 {
				pk.Orig.Dst = public // the client dialled the public address
			}
			return p.Parse(pk, r)
		})
		rewritten := 0
		for _, st := range replayFile(t, natted, c.name) {
			r := &st.Result
			if st.Err != nil || r.NExpects == 0 {
				continue
			}
			e := r.Expects[0]
			if e.Dst != public || !e.NAT || e.NATDir != cthelper.Original || e.NATAddr != st.Packet.Reply.Src || e.NATPort != e.DstPort {
				t.Errorf("%s via %s: expectation %+v", c.name, c.public, e)
			}
			out := pcaptest.Apply(t, st.Packet.Payload, r)
			if n := int(binary.BigEndian.Uint16(out)); n != len(out) {
				t.Errorf("%s via %s: TNS length %d, packet %d bytes", c.name, c.public, n, len(out))
			}
			if out[4] == typeRedirect && int(binary.BigEndian.Uint16(out[headerLen:])) != len(out)-redirectHdr {
				t.Errorf("%s via %s: REDIRECT data length %d, data %d bytes", c.name, c.public, binary.BigEndian.Uint16(out[headerLen:]), len(out)-redirectHdr)
			}
			if !strings.Contains(string(out), "(HOST="+c.public+")") {
				t.Errorf("%s via %s: rewritten to %q", c.name, c.public, out)
			}
			rewritten++
		}
		if rewritten != 2 {
			t.Errorf("%s via %s: %d redirects rewritten, want 2", c.name, c.public, rewritten)
		}
	}
}

type parserFunc func(*cthelper.Packet, *cthelper.Result) error

func (f parserFunc) Parse(p *cthelper.Packet, r *cthelper.Result) error { return f(p, r) }
