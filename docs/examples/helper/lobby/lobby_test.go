package lobby

import (
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/gonfct/gonfct/pkg/cthelper"
	"github.com/gonfct/gonfct/pkg/cthelper/replay"
	"github.com/gonfct/gonfct/pkg/ctnetlink"
	"golang.org/x/sys/unix"
)

var (
	client = netip.MustParseAddr("10.57.0.2")
	server = netip.MustParseAddr("10.57.0.1")
	orig   = ctnetlink.Tuple{Proto: unix.IPPROTO_TCP, Src: client, Dst: server, SrcPort: 45690, DstPort: Port}
	reply  = ctnetlink.Tuple{Proto: unix.IPPROTO_TCP, Src: server, Dst: client, SrcPort: Port, DstPort: 45690}
)

func packet(dir cthelper.Direction, payload string, priv []byte) *cthelper.Packet {
	p := &cthelper.Packet{Family: unix.AF_INET, Proto: unix.IPPROTO_TCP, Dir: dir, Orig: orig, Reply: reply,
		Payload: []byte(payload), Priv: priv}
	if dir == cthelper.Reply {
		p.Src, p.Dst, p.SrcPort, p.DstPort, p.Info = server, client, Port, 45690, cthelper.EstablishedReply
	} else {
		p.Src, p.Dst, p.SrcPort, p.DstPort, p.Info = client, server, 45690, Port, cthelper.Established
	}
	return p
}

// The session of testdata/lobby.pcap, packet by packet, and what goes
// wrong when the server misbehaves.
func TestParse(t *testing.T) {
	want := cthelper.Expect{Proto: unix.IPPROTO_UDP, Src: client, AnySrcPort: true, Dst: server, DstPort: 40123}
	tests := []struct {
		name    string
		steps   []string // "o:..." from the client, "r:..." from the server
		expects []cthelper.Expect
		err     string
	}{
		{name: "join then match", steps: []string{"o:JOIN alice\r\n", "r:MATCH 40123\r\n", "r:BYE\r\n"}, expects: []cthelper.Expect{want}},
		{name: "bare newline", steps: []string{"o:JOIN alice\r\n", "r:MATCH 40123\n"}, expects: []cthelper.Expect{want}},
		{name: "match without join", steps: []string{"r:MATCH 40123\r\n"}},
		{name: "join from the server", steps: []string{"r:JOIN x\r\n", "r:MATCH 40123\r\n"}},
		{name: "port 0", steps: []string{"o:JOIN a\r\n", "r:MATCH 0\r\n"}, err: "port from 1 to 65535"},
		{name: "port too big", steps: []string{"o:JOIN a\r\n", "r:MATCH 65536\r\n"}, err: "port from 1 to 65535"},
		{name: "no port", steps: []string{"o:JOIN a\r\n", "r:MATCH x\r\n"}, err: "port from 1 to 65535"},
		{name: "cut line", steps: []string{"o:JOIN a\r\n", "r:MATCH 401"}, err: "not terminated"},
		{name: "trailing junk", steps: []string{"o:JOIN a\r\n", "r:MATCH 40123x\r\n"}, err: "not terminated"},
	}
	for _, tt := range tests {
		priv := make([]byte, PrivLen)
		var got []cthelper.Expect
		var lastErr error
		for _, s := range tt.steps {
			dir := cthelper.Original
			if s[0] == 'r' {
				dir = cthelper.Reply
			}
			var r cthelper.Result
			r.Reset()
			lastErr = Parser{}.Parse(packet(dir, s[2:], priv), &r)
			got = append(got, r.Expects[:r.NExpects]...)
		}
		if tt.err != "" {
			if lastErr == nil || !strings.Contains(lastErr.Error(), tt.err) {
				t.Errorf("%s: error %v, want %q", tt.name, lastErr, tt.err)
			}
			continue
		}
		if lastErr != nil {
			t.Errorf("%s: %v", tt.name, lastErr)
		}
		if len(got) != len(tt.expects) || (len(got) == 1 && got[0] != tt.expects[0]) {
			t.Errorf("%s: expects %+v, want %+v", tt.name, got, tt.expects)
		}
	}
}

// Behind destination NAT the expectation goes to the real server (the
// master's reply source), not the address the client dialled.
func TestParseDNAT(t *testing.T) {
	real := netip.MustParseAddr("192.168.1.10")
	priv := []byte{stateJoined}
	p := packet(cthelper.Reply, "MATCH 40123\r\n", priv)
	p.Reply.Src, p.Src = real, real
	var r cthelper.Result
	r.Reset()
	if err := (Parser{}).Parse(p, &r); err != nil || r.NExpects != 1 || r.Expects[0].Dst != real || r.Expects[0].Src != client {
		t.Fatalf("DNAT: %v %+v", err, r.Expects[0])
	}
}

func TestNew(t *testing.T) {
	if _, err := New(nil); err != nil {
		t.Fatal(err)
	}
	if _, err := New(cthelper.Options{"loose": "yes"}); err == nil {
		t.Fatal("an option was accepted")
	}
}

func TestParseAllocs(t *testing.T) {
	p := packet(cthelper.Reply, "MATCH 40123\r\n", []byte{stateJoined})
	var r cthelper.Result
	if n := testing.AllocsPerRun(100, func() { r.Reset(); _ = Parser{}.Parse(p, &r) }); n != 0 {
		t.Errorf("Parse allocates %v times", n)
	}
}

func FuzzParse(f *testing.F) {
	f.Add(true, []byte("MATCH 40123\r\n"))
	f.Add(false, []byte("JOIN alice\r\n"))
	f.Fuzz(func(t *testing.T, fromServer bool, payload []byte) {
		dir := cthelper.Original
		if fromServer {
			dir = cthelper.Reply
		}
		var r cthelper.Result
		r.Reset()
		p := packet(dir, string(payload), []byte{stateJoined})
		if err := (Parser{}).Parse(p, &r); err == nil && r.NExpects == 1 && (r.Expects[0].DstPort == 0 || r.Expects[0].Proto != unix.IPPROTO_UDP) {
			t.Fatalf("bad expectation %+v from %q", r.Expects[0], payload)
		}
	})
}

// The capture of real sessions (testdata/capture.sh), replayed the way
// `gonfct run` would see it: each MATCH expects exactly the UDP flow the
// client then sent.
func TestCapture(t *testing.T) {
	b, err := os.ReadFile("testdata/lobby.pcap")
	if err != nil {
		t.Fatal(err)
	}
	frames, err := replay.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	h := replay.Helper{Name: Name, Parser: Parser{}, PrivLen: PrivLen,
		Protos: Spec.Protos, Ports: []uint16{Port}, Timeout: Spec.Policies[0].ExpectTimeout}
	var got []string
	st := replay.Run(frames, h, func(e replay.Event) {
		if e.Kind != replay.KindExpect {
			t.Errorf("packet %d: %s %s", e.Packet, e.Kind, e.Err)
			return
		}
		x := e.Expect
		got = append(got, fmt.Sprintf("packet %d: udp %s -> %s:%d (sport any: %v)", e.Packet, x.Tuple.Src, x.Tuple.Dst, x.Tuple.DstPort, x.Mask.SrcPort == 0))
	})
	want := []string{
		"packet 6: udp 10.57.0.2 -> 10.57.0.1:40123 (sport any: true)",
		"packet 19: udp fd57::2 -> fd57::1:40124 (sport any: true)",
	}
	if !slices.Equal(got, want) || st.Flows != 2 {
		t.Errorf("expectations %q (stats %+v), want %q", got, st, want)
	}
}
