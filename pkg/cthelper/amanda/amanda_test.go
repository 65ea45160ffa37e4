package amanda

import (
	"net/netip"
	"strconv"
	"strings"
	"testing"

	"github.com/gonfct/gonfct/pkg/cthelper"
	"golang.org/x/sys/unix"
)

// Constructed replies in the form Amanda's amandad sends (a REP header
// line, then the CONNECT line, then OPTIONS); capture_test.go replays
// real ones.
const rep = "Amanda 3.5 REP HANDLE 000-a0e25c08 SEQ 1700000000\n" +
	"CONNECT DATA 50011 MESG 50012 INDEX 50013\n" +
	"OPTIONS features=9ffe00;\n"

var (
	server = netip.MustParseAddr("192.0.2.5")
	client = netip.MustParseAddr("192.0.2.9")
)

func packet(payload string) *cthelper.Packet {
	p := &cthelper.Packet{Family: unix.AF_INET, Proto: unix.IPPROTO_UDP, Dir: cthelper.Reply, Info: cthelper.EstablishedReply,
		Src: client, Dst: server, SrcPort: 10080, DstPort: 850, Payload: []byte(payload)}
	p.Orig.Src, p.Orig.Dst, p.Orig.SrcPort, p.Orig.DstPort = server, client, 850, 10080
	p.Reply.Src, p.Reply.Dst, p.Reply.SrcPort, p.Reply.DstPort = client, server, 10080, 850
	return p
}

func ports(t *testing.T, p *cthelper.Packet) ([]uint16, error) {
	t.Helper()
	var r cthelper.Result
	r.Reset()
	err := Parser{}.Parse(p, &r)
	var out []uint16
	for _, e := range r.Expects[:r.NExpects] {
		if e.Src != p.Orig.Src || e.Dst != p.Orig.Dst || e.Proto != unix.IPPROTO_TCP || !e.AnySrcPort {
			t.Errorf("expectation %+v", e)
		}
		out = append(out, e.DstPort)
	}
	return out, err
}

func TestConnect(t *testing.T) {
	for in, want := range map[string]string{
		rep: "50011 50012 50013",
		"Amanda 2.6 REP HANDLE 001 SEQ 1\nCONNECT DATA 4001\n": "4001",
		"CONNECT INDEX 7 MESG 8 DATA 9\r\nmore":                "9 8 7",
		"CONNECT DATA 5 MESG 5 INDEX 5\n":                      "5",
		"CONNECT DATA 5\nMESG 6\n":                             "5", // MESG on another line
		"Amanda 3.5 REP HANDLE 000 SEQ 1\nOPTIONS x;\n":        "",
		"CONNECT XDATA 5 MESG 6\n":                             "6",
		"connect DATA 5\n":                                     "",
		// Amanda 3.5, auth bsd: a fourth stream, STATE, on its own port.
		"CONNECT DATA 50066 MESG 50067 INDEX 50068 STATE 50069\n": "50066 50067 50068 50069",
		// Auth bsdudp: MESG, INDEX and STATE are handles of streams
		// multiplexed over the DATA connection, not ports.
		"CONNECT DATA 50083 MESG 499999 INDEX 499998 STATE 499997\n": "50083",
	} {
		got, _ := ports(t, packet(in))
		var words []string
		for _, p := range got {
			words = append(words, strconv.Itoa(int(p)))
		}
		if s := strings.Join(words, " "); s != want {
			t.Errorf("%q: ports %q, want %q", in, s, want)
		}
	}
}

func TestNegative(t *testing.T) {
	for _, in := range []string{
		"CONNECT DATA 0 MESG 500000 INDEX x\n", "CONNECT DATA 99999999999999999999\n", "CONNECT DATA 12x\n",
		"CONNECT STATE 0\n",
	} {
		got, err := ports(t, packet(in))
		if len(got) != 0 || err != errBadPort {
			t.Errorf("%q: %v %v", in, got, err)
		}
	}
	// The server's request direction is never read.
	p := packet(rep)
	p.Dir, p.Info = cthelper.Original, cthelper.New
	if got, _ := ports(t, p); len(got) != 0 {
		t.Errorf("request direction: %v", got)
	}
	for n := 0; n < len(rep); n++ {
		got, _ := ports(t, packet(rep[:n]))
		if len(got) > 4 {
			t.Errorf("cut at %d: %v", n, got)
		}
	}
}

// Every reply from amandad, with or without a CONNECT line and even a
// malformed one, keeps the master for 300 s; the server's packets leave
// the timeout alone.
func TestMasterTimeout(t *testing.T) {
	for _, c := range []struct {
		dir     cthelper.Direction
		payload string
		want    uint32
	}{
		{cthelper.Reply, rep, 300},
		{cthelper.Reply, "Amanda 3.5 ACK HANDLE 000-00000001 SEQ 1795500380\n", 300},
		{cthelper.Reply, "CONNECT DATA 0\n", 300},
		{cthelper.Original, "Amanda 3.5 REQ HANDLE 000-00000001 SEQ 1795500380\nSERVICE sendsize\n", 0},
	} {
		p := packet(c.payload)
		p.Dir = c.dir
		var r cthelper.Result
		r.Reset()
		_ = Parser{}.Parse(p, &r)
		if r.Timeout != c.want {
			t.Errorf("%v %q: timeout %d, want %d", c.dir, c.payload, r.Timeout, c.want)
		}
	}
}

func TestNAT(t *testing.T) {
	p := packet(rep)
	public := netip.MustParseAddr("203.0.113.9")
	p.Orig.Dst = public // the server dialled the client's public address
	var r cthelper.Result
	r.Reset()
	_ = Parser{}.Parse(p, &r)
	if r.NExpects != 3 {
		t.Fatalf("%d expectations", r.NExpects)
	}
	for _, e := range r.Expects[:3] {
		if e.Dst != public || !e.NAT || e.NATDir != cthelper.Original || e.NATAddr != client || e.NATPort != e.DstPort {
			t.Errorf("%+v", e)
		}
	}
}

func TestAllocs(t *testing.T) {
	p := packet(rep)
	var r cthelper.Result
	if n := testing.AllocsPerRun(200, func() { r.Reset(); _ = Parser{}.Parse(p, &r) }); n != 0 || r.NExpects != 3 {
		t.Errorf("%v allocations, %d expectations", n, r.NExpects)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(rep))
	f.Add([]byte("CONNECT DATA 1 MESG 2 INDEX 3 STATE 4"))
	f.Add([]byte("CONNECT DATA 50083 MESG 499999 INDEX 499998 STATE 499997\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		p := packet("")
		p.Payload = b
		var r cthelper.Result
		r.Reset()
		_ = Parser{}.Parse(p, &r)
		seen := map[uint16]bool{}
		for _, e := range r.Expects[:r.NExpects] {
			if e.DstPort == 0 || seen[e.DstPort] {
				t.Fatalf("%+v", r.Expects[:r.NExpects])
			}
			seen[e.DstPort] = true
		}
		if r.NExpects > 4 {
			t.Fatalf("%d expectations", r.NExpects)
		}
	})
}
