package rpc

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gonfct/gonfct/pkg/cthelper"
	"github.com/gonfct/gonfct/pkg/cthelper/internal/pcaptest"
	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

// The captures in testdata are real exchanges with Debian's rpcbind
// (testdata/capture.sh): rpcinfo's own rpcbind v4 GETADDR calls, and
// GETPORT v2 / GETADDR v3 calls from testdata/rpcclient.py. Program 100099
// version 1 is registered on tcp 40001, udp 40002, tcp6 40003, udp6 40004.

var (
	lo4 = netip.MustParseAddr("127.0.0.1")
	lo6 = netip.MustParseAddr("::1")
)

func want(proto uint8, src, dst netip.Addr, port uint16) cthelper.Expect {
	return cthelper.Expect{Proto: proto, Src: src, Dst: dst, AnySrcPort: true, DstPort: port, Flags: cthelper.ExpectPermanent}
}

func replay(t *testing.T, frames []pcaptest.Frame) []pcaptest.Step {
	t.Helper()
	p, err := New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return pcaptest.Replay(t, p, PrivLen, withHandshake(frames))
}

// withHandshake puts a TCP handshake to the portmapper's port ahead of
// TCP frames taken out of their capture without theirs: without one the
// kernel reports the first data packet as NEW, which the helper ignores.
func withHandshake(frames []pcaptest.Frame) []pcaptest.Frame {
	if len(frames) == 0 || frames[0].Proto != unix.IPPROTO_TCP || frames[0].SYN {
		return frames
	}
	f := frames[0]
	syn := pcaptest.Frame{Family: f.Family, Proto: f.Proto, Src: f.Src, Dst: f.Dst, SrcPort: f.SrcPort, DstPort: f.DstPort, SYN: true}
	if f.SrcPort == 111 {
		syn.Src, syn.Dst, syn.SrcPort, syn.DstPort = f.Dst, f.Src, f.DstPort, f.SrcPort
	}
	synAck := pcaptest.Frame{Family: f.Family, Proto: f.Proto, Src: syn.Dst, Dst: syn.Src, SrcPort: syn.DstPort, DstPort: syn.SrcPort, SYN: true, ACK: true}
	return append([]pcaptest.Frame{syn, synAck}, frames...)
}

func TestCaptures(t *testing.T) {
	for _, c := range []struct {
		file string
		want []cthelper.Expect
	}{
		{"rpcinfo-getaddr4-tcp", []cthelper.Expect{want(unix.IPPROTO_TCP, lo4, lo4, 40001)}},
		{"rpcinfo-getaddr4-udp", []cthelper.Expect{want(unix.IPPROTO_UDP, lo4, lo4, 40002)}},
		{"rpcinfo-getaddr4-tcp6", []cthelper.Expect{want(unix.IPPROTO_TCP, lo6, lo6, 40003)}},
		{"rpcinfo-getaddr4-udp6", []cthelper.Expect{want(unix.IPPROTO_UDP, lo6, lo6, 40004)}},
		{"rpcinfo-getaddr4-unregistered", nil},
		// tcp, udp, an unregistered program (port 0), the portmapper itself.
		{"getport-udp", []cthelper.Expect{want(unix.IPPROTO_TCP, lo4, lo4, 40001), want(unix.IPPROTO_UDP, lo4, lo4, 40002)}},
		{"getport-tcp", []cthelper.Expect{want(unix.IPPROTO_UDP, lo4, lo4, 40002)}},
		{"getaddr3-udp6", []cthelper.Expect{want(unix.IPPROTO_UDP, lo6, lo6, 40004)}},
	} {
		t.Run(c.file, func(t *testing.T) {
			steps := replay(t, pcaptest.Read(t, filepath.Join("testdata", c.file+".pcap")))
			for _, s := range steps {
				if s.Err != nil {
					t.Errorf("%s packet: %v", s.Packet.Dir, s.Err)
				}
			}
			if d := cmp.Diff(c.want, pcaptest.Expects(steps), cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); d != "" {
				t.Errorf("expectations (-want +got):\n%s", d)
			}
			// Every answered call is forgotten.
			if last := steps[len(steps)-1]; last.Packet.Priv[12] != 0 {
				t.Errorf("private data after the reply: %x", last.Packet.Priv)
			}
		})
	}
}

// exchange returns the call and reply frames of a one-call capture.
func exchange(t *testing.T, file string) (call, reply pcaptest.Frame) {
	t.Helper()
	var data []pcaptest.Frame
	for _, f := range pcaptest.Read(t, filepath.Join("testdata", file+".pcap")) {
		if len(f.Payload) > 0 {
			f.Payload = append([]byte(nil), f.Payload...)
			data = append(data, f)
		}
	}
	if len(data) != 2 {
		t.Fatalf("%s: %d data packets, want call and reply", file, len(data))
	}
	return data[0], data[1]
}

func expectsOf(t *testing.T, frames ...pcaptest.Frame) []cthelper.Expect {
	t.Helper()
	return pcaptest.Expects(replay(t, frames))
}

func TestNegative(t *testing.T) {
	call, reply := exchange(t, "getport-tcp")
	if got := expectsOf(t, call, reply); len(got) != 1 {
		t.Fatalf("baseline: %d expectations", len(got))
	}
	// Offsets in the TCP payload: 4-byte record mark, then the message.
	const xidOff, replyStatOff, acceptStatOff, portOff = 4, 12, 24, 28
	mod := func(f pcaptest.Frame, off int, v uint32) pcaptest.Frame {
		f.Payload = append([]byte(nil), f.Payload...)
		binary.BigEndian.PutUint32(f.Payload[off:], v)
		return f
	}
	for name, frames := range map[string][]pcaptest.Frame{
		"reply without a call":      {reply},
		"spoofed xid":               {call, mod(reply, xidOff, 0x0bad0012)},
		"denied":                    {call, mod(reply, replyStatOff, 1)},
		"program unavailable":       {call, mod(reply, acceptStatOff, 1)},
		"port 0":                    {call, mod(reply, portOff, 0)},
		"port over 65535":           {call, mod(reply, portOff, 70000)},
		"call is a reply":           {mod(call, 8, 1), reply},
		"call not for portmapper":   {mod(call, 16, 100003), reply},
		"call for another protocol": {mod(call, 52, 132), reply},
		"call is GETPORT of pmap":   {mod(call, 44, portmapProgram), reply},
		"over-long credential":      {mod(call, 32, 100000), reply},
	} {
		if got := expectsOf(t, frames...); len(got) != 0 {
			t.Errorf("%s: %v", name, got)
		}
	}
	// A spoofed reply leaves the call pending: the real one still works.
	if got := expectsOf(t, call, mod(reply, xidOff, 7), reply); len(got) != 1 {
		t.Errorf("real reply after a spoofed one: %d expectations", len(got))
	}
	// A second reply to an answered call does nothing.
	if got := expectsOf(t, call, reply, reply); len(got) != 1 {
		t.Errorf("replayed reply: %d expectations", len(got))
	}
}

func TestTruncated(t *testing.T) {
	for _, file := range []string{"getport-tcp", "getport-udp", "rpcinfo-getaddr4-tcp6", "getaddr3-udp6"} {
		var call, reply pcaptest.Frame
		frames := pcaptest.Read(t, filepath.Join("testdata", file+".pcap"))
		for _, f := range frames {
			if len(f.Payload) > 0 && call.Payload == nil {
				call = f
			} else if len(f.Payload) > 0 && reply.Payload == nil {
				reply = f
			}
		}
		for n := 0; n < len(call.Payload); n++ {
			c := call
			c.Payload = call.Payload[:n]
			if got := expectsOf(t, c, reply); len(got) != 0 {
				t.Errorf("%s: call cut at %d: %v", file, n, got)
			}
		}
		for n := 0; n < len(reply.Payload); n++ {
			r := reply
			r.Payload = reply.Payload[:n]
			if got := expectsOf(t, call, r); len(got) != 0 {
				t.Errorf("%s: reply cut at %d: %v", file, n, got)
			}
		}
	}
}

// refragment re-frames a one-fragment TCP record as two fragments split
// after n bytes of the message (constructed from the captured record).
func refragment(payload []byte, n int) []byte {
	msg := payload[4:]
	out := binary.BigEndian.AppendUint32(nil, uint32(n))
	out = append(out, msg[:n]...)
	out = binary.BigEndian.AppendUint32(out, 0x80000000|uint32(len(msg)-n))
	return append(out, msg[n:]...)
}

func TestFragments(t *testing.T) {
	for _, file := range []string{"getport-tcp", "rpcinfo-getaddr4-tcp", "rpcinfo-getaddr4-tcp6"} {
		call, reply := exchange(t, file)
		base := expectsOf(t, call, reply)
		if len(base) != 1 {
			t.Fatalf("%s: baseline %d expectations", file, len(base))
		}
		for n := 1; n < len(call.Payload)-4; n++ {
			c := call
			c.Payload = refragment(call.Payload, n)
			r := reply
			r.Payload = refragment(reply.Payload, min(n, len(reply.Payload)-5))
			if got := expectsOf(t, c, r); len(got) != 1 || got[0] != base[0] {
				t.Errorf("%s: split at %d: %v, want %v", file, n, got, base)
			}
		}
		// A first fragment claiming to be last leaves the call cut short.
		c := call
		c.Payload = refragment(call.Payload, 20)
		c.Payload[0] |= 0x80
		if got := expectsOf(t, c, reply); len(got) != 0 {
			t.Errorf("%s: early last fragment: %v", file, got)
		}
	}
}

func TestUniversalAddrChecks(t *testing.T) {
	call, reply := exchange(t, "rpcinfo-getaddr4-tcp")
	// The reply's address string "0.0.0.0.156.65" sits at the end.
	uaddr := func(s string) pcaptest.Frame {
		r := reply
		body := r.Payload[4 : len(r.Payload)-4-16]
		var b []byte
		b = binary.BigEndian.AppendUint32(b, 0)
		b = append(b, body...)
		b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
		b = append(b, s...)
		b = append(b, make([]byte, (4-len(s)%4)%4)...)
		binary.BigEndian.PutUint32(b, 0x80000000|uint32(len(b)-4))
		r.Payload = b
		return r
	}
	if got := expectsOf(t, call, uaddr("0.0.0.0.156.65")); len(got) != 1 {
		t.Fatalf("rebuilt reply: %v", got)
	}
	for s, n := range map[string]int{
		"127.0.0.1.156.65": 1, // the server itself
		"192.0.2.9.156.65": 0, // a third host
		"::1.156.65":       0, // another family
		"0.0.0.0.0.0":      0, // port 0 is no port
		"0.0.0.0.256.1":    0,
		"0.0.0.0.156":      0,
		"garbage":          0,
	} {
		if got := expectsOf(t, call, uaddr(s)); len(got) != n {
			t.Errorf("uaddr %q: %v, want %d", s, got, n)
		}
	}
}

func TestParseUniversalAddr(t *testing.T) {
	for s, w := range map[string]string{
		"10.1.2.3.3.4": "10.1.2.3:772", "::1.156.67": "[::1]:40003", "fe80::1.0.111": "[fe80::1]:111",
		"1.2.3.4.5": "", "1.2.3.4.5.x": "", ".1.2": "", "1.2.3.4..5": "",
	} {
		a, p, ok := ParseUniversalAddr([]byte(s))
		if w == "" {
			if ok {
				t.Errorf("%q: accepted as %v %d", s, a, p)
			}
			continue
		}
		if !ok || netip.AddrPortFrom(a, p) != netip.MustParseAddrPort(w) {
			t.Errorf("%q = %v %d %v, want %s", s, a, p, ok, w)
		}
	}
}

func TestNAT(t *testing.T) {
	call, reply := exchange(t, "getport-tcp")
	p, _ := New(nil)
	public := netip.MustParseAddr("198.51.100.1")
	priv := make([]byte, PrivLen)
	// The client asked the public address; DNAT sent it to 127.0.0.1.
	pk := cthelper.Packet{Family: unix.AF_INET, Proto: unix.IPPROTO_TCP, Dir: cthelper.Original, Info: cthelper.Established,
		Payload: call.Payload, Priv: priv}
	pk.Orig.Src, pk.Orig.Dst, pk.Orig.SrcPort, pk.Orig.DstPort = lo4, public, call.SrcPort, 111
	pk.Reply.Src, pk.Reply.Dst, pk.Reply.SrcPort, pk.Reply.DstPort = lo4, lo4, 111, call.SrcPort
	var r cthelper.Result
	r.Reset()
	if err := p.Parse(&pk, &r); err != nil || !r.PrivChanged {
		t.Fatalf("call: %v %+v", err, r)
	}
	pk.Dir, pk.Info, pk.Payload = cthelper.Reply, cthelper.EstablishedReply, reply.Payload
	r.Reset()
	if err := p.Parse(&pk, &r); err != nil || r.NExpects != 1 {
		t.Fatalf("reply: %v %+v", err, r)
	}
	e := r.Expects[0]
	if e.Dst != public || e.DstPort != 40002 || e.Proto != unix.IPPROTO_UDP || !e.NAT || e.NATDir != cthelper.Original || e.NATAddr != lo4 || e.NATPort != 40002 {
		t.Errorf("NATed expectation %+v", e)
	}
}

// rpcbind's GETADDR answer names the real server: behind DNAT the client
// could not reach it, so the universal address is rewritten to the address
// the client asked (the XDR string's length and, over TCP, the record mark
// follow), and the expectation to that address is translated to the server.
func TestGetaddrDNAT(t *testing.T) {
	for _, c := range []struct {
		file   string
		public netip.Addr
		real   netip.Addr
		uaddr  string
	}{
		{"rpcinfo-getaddr4-tcp", netip.MustParseAddr("198.51.100.1"), lo4, "198.51.100.1.156.65"},
		{"rpcinfo-getaddr4-udp", netip.MustParseAddr("203.0.113.200"), lo4, "203.0.113.200.156.66"},
		{"rpcinfo-getaddr4-tcp6", netip.MustParseAddr("2001:db8::7"), lo6, "2001:db8::7.156.67"},
	} {
		t.Run(c.file, func(t *testing.T) {
			call, reply := exchange(t, c.file)
			p, _ := New(nil)
			pk := cthelper.Packet{Family: call.Family, Proto: call.Proto, Dir: cthelper.Original, Info: cthelper.Established,
				Payload: call.Payload, Priv: make([]byte, PrivLen)}
			pk.Orig.Src, pk.Orig.Dst, pk.Orig.SrcPort, pk.Orig.DstPort = c.real, c.public, call.SrcPort, 111
			pk.Reply.Src, pk.Reply.Dst, pk.Reply.SrcPort, pk.Reply.DstPort = c.real, c.real, 111, call.SrcPort
			var r cthelper.Result
			r.Reset()
			if err := p.Parse(&pk, &r); err != nil {
				t.Fatal(err)
			}
			callPriv := append([]byte(nil), pk.Priv...)
			pk.Dir, pk.Info, pk.Payload = cthelper.Reply, cthelper.EstablishedReply, reply.Payload
			r.Reset()
			if err := p.Parse(&pk, &r); err != nil || r.NExpects != 1 {
				t.Fatalf("reply: %v, %d expectations", err, r.NExpects)
			}
			if e := r.Expects[0]; e.Dst != c.public || !e.NAT || e.NATAddr != c.real || e.NATPort != e.DstPort {
				t.Errorf("expectation %+v", e)
			}
			if n := testing.AllocsPerRun(50, func() {
				copy(pk.Priv, callPriv)
				r.Reset()
				_ = p.Parse(&pk, &r)
			}); n != 0 {
				t.Errorf("rewriting a reply allocates %v times", n)
			}
			out := pcaptest.Apply(t, reply.Payload, &r)
			if !strings.Contains(string(out), c.uaddr) {
				t.Errorf("rewritten reply %q does not carry %q", out, c.uaddr)
			}
			if call.Proto == unix.IPPROTO_TCP {
				if mark := binary.BigEndian.Uint32(out); mark != 0x80000000|uint32(len(out)-4) {
					t.Errorf("record mark %#x for a %d-byte record", mark, len(out)-4)
				}
			}
			// The rewritten answer is a well-formed reply naming the
			// address asked: seen without NAT, it expects that address.
			copy(pk.Priv, callPriv)
			pk.Reply.Src, pk.Payload = c.public, out
			r.Reset()
			if err := p.Parse(&pk, &r); err != nil || r.NExpects != 1 || r.NRewrites != 0 || r.Expects[0].Dst != c.public {
				t.Fatalf("rewritten reply parsed: %v %+v", err, r.Expects[:r.NExpects])
			}
		})
	}
}

func TestOptionsAndPriv(t *testing.T) {
	if _, err := New(cthelper.Options{"loose": "yes"}); err == nil || !strings.Contains(err.Error(), "takes no options") {
		t.Errorf("New with an option: %v", err)
	}
	var r cthelper.Result
	r.Reset()
	if err := (Parser{}).Parse(&cthelper.Packet{Payload: []byte{1}, Priv: make([]byte, 4)}, &r); err != errPriv {
		t.Errorf("short priv: %v", err)
	}
}

func TestAllocs(t *testing.T) {
	for _, file := range []string{"getport-tcp", "rpcinfo-getaddr4-tcp6"} {
		call, reply := exchange(t, file)
		steps := replay(t, []pcaptest.Frame{call, reply})
		cp, rp := steps[0].Packet, steps[1].Packet
		priv := make([]byte, PrivLen)
		cp.Priv, rp.Priv = priv, priv
		var r cthelper.Result
		p := Parser{}
		n := testing.AllocsPerRun(200, func() {
			r.Reset()
			_ = p.Parse(&cp, &r)
			r.Reset()
			_ = p.Parse(&rp, &r)
			if r.NExpects != 1 {
				panic("no expectation")
			}
		})
		if n != 0 {
			t.Errorf("%s: %v allocations per call and reply", file, n)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, file := range []string{"getport-tcp", "getport-udp", "rpcinfo-getaddr4-tcp", "rpcinfo-getaddr4-udp6", "getaddr3-udp6"} {
		frames := pcaptest.Read(f, filepath.Join("testdata", file+".pcap"))
		var data [][]byte
		for _, fr := range frames {
			if len(fr.Payload) > 0 {
				data = append(data, fr.Payload)
			}
		}
		f.Add(data[0], data[1], frames[0].Proto == unix.IPPROTO_TCP, frames[0].Family == unix.AF_INET6, false)
		f.Add(data[0], data[1], frames[0].Proto == unix.IPPROTO_TCP, frames[0].Family == unix.AF_INET6, true)
	}
	f.Fuzz(func(t *testing.T, call, reply []byte, tcp, v6, dnat bool) {
		p := Parser{}
		pk := cthelper.Packet{Family: unix.AF_INET, Proto: unix.IPPROTO_UDP, Info: cthelper.Established, Priv: make([]byte, PrivLen)}
		pk.Orig.Src, pk.Orig.Dst = lo4, lo4
		if v6 {
			pk.Family, pk.Orig.Src, pk.Orig.Dst = unix.AF_INET6, lo6, lo6
		}
		pk.Reply.Src, pk.Reply.Dst = pk.Orig.Dst, pk.Orig.Src
		if dnat { // asked a public address, answered by the real server
			pk.Orig.Dst = netip.MustParseAddr("198.51.100.1")
			if v6 {
				pk.Orig.Dst = netip.MustParseAddr("2001:db8::1")
			}
		}
		if tcp {
			pk.Proto = unix.IPPROTO_TCP
		}
		var r cthelper.Result
		r.Reset()
		pk.Payload = call
		_ = p.Parse(&pk, &r)
		pk.Dir, pk.Info, pk.Payload = cthelper.Reply, cthelper.EstablishedReply, reply
		r.Reset()
		_ = p.Parse(&pk, &r)
		for _, e := range r.Expects[:r.NExpects] {
			if e.DstPort == 0 || (e.Proto != unix.IPPROTO_TCP && e.Proto != unix.IPPROTO_UDP) || e.Dst != pk.Orig.Dst {
				t.Fatalf("bad expectation %+v", e)
			}
		}
		if r.NExpects > 1 {
			t.Fatalf("%d expectations", r.NExpects)
		}
		if r.NRewrites > 0 {
			out := pcaptest.Apply(t, reply, &r)
			if !dnat || !bytes.Contains(out, []byte(pk.Orig.Dst.String()+".")) {
				t.Fatalf("rewrite without DNAT or not naming %v: %q", pk.Orig.Dst, out)
			}
		}
	})
}
