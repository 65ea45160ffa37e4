package tns

import (
	"encoding/binary"
	"net/netip"
	"strings"
	"testing"

	"github.com/gonfct/gonfct/pkg/cthelper"
	"github.com/gonfct/gonfct/pkg/cthelper/internal/pcaptest"
	"golang.org/x/sys/unix"
)

// Oracle's listener is not in Debian: the packets here are constructed from
// the TNS wire format (8-byte header: length, packet checksum, type,
// reserved, header checksum; a REDIRECT's body is a 2-byte data length and
// the connect data), with connect data in the form Oracle listeners send
// when they hand a client to a dispatcher.

const redirectText = "(ADDRESS=(PROTOCOL=tcp)(HOST=192.0.2.10)(PORT=40123))\x00(DESCRIPTION=(CONNECT_DATA=(SERVICE_NAME=orcl)))"

func tnsPacket(typ byte, body []byte) []byte {
	b := binary.BigEndian.AppendUint16(nil, uint16(headerLen+len(body)))
	b = append(b, 0x12, 0x34, typ, 0, 0x56, 0x78) // non-zero checksums, to see them zeroed
	return append(b, body...)
}

func redirect(text string) []byte {
	return tnsPacket(typeRedirect, append(binary.BigEndian.AppendUint16(nil, uint16(len(text))), text...))
}

func data(text string) []byte { return tnsPacket(typeData, append([]byte{0, 0}, text...)) }

var (
	client = netip.MustParseAddr("192.0.2.1")
	server = netip.MustParseAddr("192.0.2.10")
	public = netip.MustParseAddr("203.0.113.1")
)

// flow returns a server-to-client packet on a master client → server:1521.
func flow(payload []byte, priv []byte) *cthelper.Packet {
	p := &cthelper.Packet{Family: unix.AF_INET, Proto: unix.IPPROTO_TCP, Dir: cthelper.Reply, Info: cthelper.EstablishedReply,
		Src: server, Dst: client, SrcPort: 1521, DstPort: 40000, Payload: payload, Priv: priv}
	p.Orig.Src, p.Orig.Dst, p.Orig.SrcPort, p.Orig.DstPort = client, server, 40000, 1521
	p.Reply.Src, p.Reply.Dst, p.Reply.SrcPort, p.Reply.DstPort = server, client, 1521, 40000
	return p
}

func run(t *testing.T, p cthelper.Parser, pk ...*cthelper.Packet) ([]cthelper.Expect, error) {
	t.Helper()
	var out []cthelper.Expect
	var err error
	for _, k := range pk {
		var r cthelper.Result
		r.Reset()
		err = p.Parse(k, &r)
		out = append(out, r.Expects[:r.NExpects]...)
	}
	return out, err
}

func strict(t testing.TB) cthelper.Parser {
	p, err := New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRedirect(t *testing.T) {
	want := cthelper.Expect{Proto: unix.IPPROTO_TCP, Src: client, Dst: server, AnySrcPort: true, DstPort: 40123}
	for name, pkts := range map[string][][]byte{
		"redirect":                    {redirect(redirectText)},
		"empty redirect, then data":   {redirect(""), data(redirectText)},
		"keys in lower case, spaces":  {redirect("(address=(protocol=tcp)(port= 40123 )(host= 192.0.2.10 ))")},
		"port before host":            {redirect("(ADDRESS=(PORT=40123)(PROTOCOL=tcp)(HOST=192.0.2.10))")},
		"two TNS packets in one read": {append(redirect(redirectText), tnsPacket(typeData, []byte{0, 0})...)},
	} {
		priv := make([]byte, PrivLen)
		var pk []*cthelper.Packet
		for _, b := range pkts {
			pk = append(pk, flow(b, priv))
		}
		got, err := run(t, strict(t), pk...)
		if err != nil || len(got) != 1 || got[0] != want {
			t.Errorf("%s: %v %+v", name, err, got)
		}
		if priv[0] != 0 {
			t.Errorf("%s: still waiting for data", name)
		}
	}
}

func TestNegative(t *testing.T) {
	priv := func() []byte { return make([]byte, PrivLen) }
	for name, c := range map[string]struct {
		pkts [][]byte
		err  error
	}{
		"data without empty redirect": {[][]byte{data(redirectText)}, nil},
		"empty redirect, other, data": {[][]byte{redirect(""), tnsPacket(2, nil), data(redirectText)}, nil},
		"third-party host":            {[][]byte{redirect(strings.Replace(redirectText, "192.0.2.10", "198.51.100.7", 1))}, errThirdHost},
		"host name":                   {[][]byte{redirect("(ADDRESS=(PROTOCOL=tcp)(HOST=db.example.com)(PORT=1522))")}, errNoAddress},
		"IPv6 host on IPv4 master":    {[][]byte{redirect("(ADDRESS=(PROTOCOL=tcp)(HOST=2001:db8::1)(PORT=1522))")}, errNoAddress},
		"no port":                     {[][]byte{redirect("(ADDRESS=(PROTOCOL=tcp)(HOST=192.0.2.10))")}, errNoAddress},
		"port 0":                      {[][]byte{redirect("(ADDRESS=(PROTOCOL=tcp)(HOST=192.0.2.10)(PORT=0))")}, errNoAddress},
		"port too big":                {[][]byte{redirect("(ADDRESS=(PROTOCOL=tcp)(HOST=192.0.2.10)(PORT=65536))")}, errNoAddress},
		"unclosed host":               {[][]byte{redirect("(ADDRESS=(PROTOCOL=tcp)(HOST=192.0.2.10(PORT=1522))")}, errNoAddress},
		"data length over packet":     {[][]byte{redirect(redirectText)[:40]}, errTruncated},
		"header only":                 {[][]byte{redirect(redirectText)[:9]}, errTruncated},
	} {
		pv := priv()
		var pk []*cthelper.Packet
		for _, b := range c.pkts {
			pk = append(pk, flow(b, pv))
		}
		got, err := run(t, strict(t), pk...)
		if len(got) != 0 || err != c.err {
			t.Errorf("%s: %v %+v", name, err, got)
		}
	}
	// The client's direction is never parsed.
	pk := flow(redirect(redirectText), priv())
	pk.Dir, pk.Info = cthelper.Original, cthelper.Established
	if got, _ := run(t, strict(t), pk); len(got) != 0 {
		t.Errorf("client direction: %+v", got)
	}
	// Every truncation of a redirect: no expectation, no crash.
	full := redirect(redirectText)
	for n := 0; n < len(full); n++ {
		if got, _ := run(t, strict(t), flow(full[:n], priv())); len(got) != 0 {
			t.Errorf("cut at %d: %+v", n, got)
		}
	}
}

func TestLoose(t *testing.T) {
	p, err := New(cthelper.Options{"loose": "yes"})
	if err != nil {
		t.Fatal(err)
	}
	third := netip.MustParseAddr("198.51.100.7")
	got, err := run(t, p, flow(redirect(strings.Replace(redirectText, "192.0.2.10", "198.51.100.7", 1)), make([]byte, 1)))
	if err != nil || len(got) != 1 || got[0].Dst != third || got[0].NAT {
		t.Errorf("loose: %v %+v", err, got)
	}
	if _, err := New(cthelper.Options{"loose": "perhaps"}); err == nil {
		t.Error("loose=perhaps accepted")
	}
}

func TestIPv6(t *testing.T) {
	c6, s6 := netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::10")
	pk := flow(redirect("(ADDRESS=(PROTOCOL=tcp)(HOST=2001:db8::10)(PORT=1600))"), make([]byte, 1))
	pk.Family = unix.AF_INET6
	pk.Orig.Src, pk.Orig.Dst, pk.Reply.Src, pk.Reply.Dst = c6, s6, s6, c6
	got, err := run(t, strict(t), pk)
	if err != nil || len(got) != 1 || got[0].Dst != s6 || got[0].DstPort != 1600 {
		t.Errorf("%v %+v", err, got)
	}
}

func TestDNAT(t *testing.T) {
	for _, c := range []struct {
		name string
		pkts [][]byte
		want []byte
	}{
		{"redirect", [][]byte{redirect(redirectText)}, redirect(strings.Replace(redirectText, "192.0.2.10", "203.0.113.1", 1))},
		{"data", [][]byte{redirect(""), data(redirectText)}, data(strings.Replace(redirectText, "192.0.2.10", "203.0.113.1", 1))},
	} {
		priv := make([]byte, PrivLen)
		var r cthelper.Result
		for _, b := range c.pkts {
			pk := flow(b, priv)
			pk.Orig.Dst = public // the client dialled the public address
			r.Reset()
			if err := strict(t).Parse(pk, &r); err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
		}
		if r.NExpects != 1 {
			t.Fatalf("%s: no expectation", c.name)
		}
		e := r.Expects[0]
		if e.Dst != public || e.DstPort != 40123 || !e.NAT || e.NATDir != cthelper.Original || e.NATAddr != server || e.NATPort != 40123 {
			t.Errorf("%s: %+v", c.name, e)
		}
		got := pcaptest.Apply(t, c.pkts[len(c.pkts)-1], &r)
		want := c.want
		binary.BigEndian.PutUint16(want[2:], 0)
		binary.BigEndian.PutUint16(want[6:], 0)
		if string(got) != string(want) {
			t.Errorf("%s: rewritten\n%q\nwant\n%q", c.name, got, want)
		}
	}
}

func TestRewriteOverflow(t *testing.T) {
	b := redirect("(ADDRESS=(PROTOCOL=tcp)(HOST=192.0.2.10)(PORT=40123))")
	binary.BigEndian.PutUint16(b, 0xfffe) // a length the rewrite would overflow
	pk := flow(b, make([]byte, 1))
	pk.Orig.Dst = netip.MustParseAddr("203.100.113.111")
	var r cthelper.Result
	r.Reset()
	if err := strict(t).Parse(pk, &r); err != errTooLong || r.NExpects != 0 || r.NRewrites != 0 {
		t.Errorf("%v %d %d", err, r.NExpects, r.NRewrites)
	}
}

func TestAllocs(t *testing.T) {
	p := strict(t)
	pk := flow(redirect(redirectText), make([]byte, 1))
	pk.Orig.Dst = public
	var r cthelper.Result
	if n := testing.AllocsPerRun(200, func() { r.Reset(); _ = p.Parse(pk, &r) }); n != 0 || r.NExpects != 1 {
		t.Errorf("%v allocations, %d expectations", n, r.NExpects)
	}
}

func FuzzParse(f *testing.F) {
	f.Add(redirect(redirectText), false, false)
	f.Add(data(redirectText), true, true)
	f.Add(redirect("(ADDRESS=(PORT=1)(HOST=192.0.2.10))"), false, true)
	p := strict(f)
	f.Fuzz(func(t *testing.T, b []byte, pending, natted bool) {
		priv := []byte{0}
		if pending {
			priv[0] = 1
		}
		pk := flow(b, priv)
		if natted {
			pk.Orig.Dst = public
		}
		var r cthelper.Result
		r.Reset()
		_ = p.Parse(pk, &r)
		if r.NExpects > 1 || r.NExpects == 1 && r.Expects[0].DstPort == 0 {
			t.Fatalf("%+v", r.Expects[:r.NExpects])
		}
		if r.NExpects == 1 && r.Expects[0].Dst != pk.Orig.Dst {
			t.Fatalf("expectation to a third host: %+v", r.Expects[0])
		}
		out := pcaptest.Apply(t, b, &r)
		if r.NRewrites > 0 && (len(out) < headerLen || int(binary.BigEndian.Uint16(out))-int(binary.BigEndian.Uint16(b)) != len(out)-len(b)) {
			t.Fatalf("TNS length not fixed: %q -> %q", b, out)
		}
	})
}
