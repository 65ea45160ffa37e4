package engine

import (
	"bytes"
	"encoding/hex"
	"net/netip"
	"testing"

	"github.com/gonfct/gonfct/pkg/cthelper"
	"golang.org/x/sys/unix"
)

// Packets with correct checksums, made by an independent implementation
// (Python's struct and RFC 1071): an FTP 227 reply over IPv4/TCP, the same
// with a longer address, a TFTP request over IPv6/UDP behind a
// destination-options header, short and long, and an FTP EPRT over
// IPv6/TCP, with a longer address (and the TCP header's offset in the top
// of the traffic class) and with another of the same length.
const (
	v4Reply227     = "4500005300014000400626a20a0000010a00000200159c40000003e8000007d05018ffff07f2000032323720456e746572696e672050617373697665204d6f6465202831302c302c302c312c342c31292e0d0a"
	v4Reply227Long = "4500005a000140004006269b0a0000010a00000200159c40000003e8000007d05018ffff8401000032323720456e746572696e672050617373697665204d6f646520283139322c3136382c3130302c3230302c342c31292e0d0a"
	v6TFTP         = "60000000001d3c4020010db800000000000000000000000120010db80000000000000000000000021100010400000000138800450015f45a000166696c65006f6374657400"
	v6EPRT         = "60000000002e064020010db800000000000000000000000120010db80000000000000000000000029c400015000003e8000007d05018ffffe130000045505254207c327c666430303a313a3a327c35303030307c0d0a"
	v6EPRTLong     = "6a0000000035064020010db800000000000000000000000120010db80000000000000000000000029c400015000003e8000007d05018ffff53e7000045505254207c327c323030313a6462383a3131333a3a66657c35303030307c0d0a"
	v6EPRTSame     = "60000000002e064020010db800000000000000000000000120010db80000000000000000000000029c400015000003e8000007d05018ffffe030000045505254207c327c666430303a313a3a337c35303030307c0d0a"
	v6TFTPLong     = "6000000000243c4020010db800000000000000000000000120010db8000000000000000000000002110001040000000013880045001cfc8d00016c6f6e6765722d66696c65006f6374657400"
)

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDecodeIPv4TCP(t *testing.T) {
	b := mustHex(t, v4Reply227)
	var p cthelper.Packet
	off, err := decodeIP(b, &p)
	if err != nil {
		t.Fatal(err)
	}
	if p.Family != unix.AF_INET || p.Proto != unix.IPPROTO_TCP || p.Src != netip.MustParseAddr("10.0.0.1") ||
		p.Dst != netip.MustParseAddr("10.0.0.2") || p.SrcPort != 21 || p.DstPort != 40000 || p.Seq != 1000 {
		t.Fatalf("decoded %+v", p)
	}
	if off.l4 != 20 || off.payload != 40 || string(p.Payload) != "227 Entering Passive Mode (10,0,0,1,4,1).\r\n" {
		t.Fatalf("offsets %+v payload %q", off, p.Payload)
	}
	// Link-layer padding after the IP total length is not payload.
	padded := append(append([]byte{}, b...), 0, 0, 0, 0)
	if _, err := decodeIP(padded, &p); err != nil || len(p.Payload) != len(b)-40 {
		t.Fatalf("padded packet: %v, payload %d bytes", err, len(p.Payload))
	}
}

func TestDecodeIPv6ExtHeaders(t *testing.T) {
	var p cthelper.Packet
	off, err := decodeIP(mustHex(t, v6TFTP), &p)
	if err != nil {
		t.Fatal(err)
	}
	if p.Family != unix.AF_INET6 || p.Proto != unix.IPPROTO_UDP || p.Src != netip.MustParseAddr("2001:db8::1") ||
		p.SrcPort != 5000 || p.DstPort != 69 || off.l4 != 48 || string(p.Payload) != "\x00\x01file\x00octet\x00" {
		t.Fatalf("decoded %+v off %+v", p, off)
	}
}

func TestDecodeIPErrors(t *testing.T) {
	v4 := mustHex(t, v4Reply227)
	frag := append([]byte{}, v4...)
	frag[6] = 0x20 // MF
	icmp := append([]byte{}, v4...)
	icmp[9] = unix.IPPROTO_ICMP
	badDoff := append([]byte{}, v4...)
	badDoff[32] = 0x40 // a TCP header of 16 bytes
	v6 := mustHex(t, v6TFTP)
	loop := append([]byte{}, v6...)
	loop[40] = unix.IPPROTO_DSTOPTS // options header pointing at itself...
	for name, b := range map[string][]byte{
		"empty": nil, "short v4": v4[:19], "version 5": append([]byte{0x50}, v4[1:]...), "fragment": frag,
		"icmp": icmp, "short tcp": v4[:30], "tcp data offset": badDoff, "short v6": v6[:39], "short ext": v6[:44],
	} {
		var p cthelper.Packet
		if _, err := decodeIP(b, &p); err == nil {
			t.Errorf("%s: decoded", name)
		}
	}
	var p cthelper.Packet
	if _, err := decodeIP(loop, &p); err == nil {
		t.Error("an extension header chain with a UDP header taken as options decoded")
	}
}

// A rewrite makes the packet the independent implementation made, length
// and checksums included; no rewrite gives back the same bytes.
func TestRewrite(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
		old, new       string
	}{
		{"ipv4 tcp longer", v4Reply227, v4Reply227Long, "10,0,0,1", "192,168,100,200"},
		{"ipv4 tcp shorter", v4Reply227Long, v4Reply227, "192,168,100,200", "10,0,0,1"},
		{"ipv6 udp", v6TFTP, v6TFTPLong, "file", "longer-file"},
		{"ipv6 tcp longer", v6EPRT, v6EPRTLong, "fd00:1::2", "2001:db8:113::fe"},
		{"ipv6 tcp same length", v6EPRT, v6EPRTSame, "fd00:1::2", "fd00:1::3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := mustHex(t, tc.in)
			var p cthelper.Packet
			off, err := decodeIP(in, &p)
			if err != nil {
				t.Fatal(err)
			}
			end := off.payload + len(p.Payload)
			same, err := rewrite(nil, in, off, end, p.Proto, nil)
			if err != nil || !bytes.Equal(same, in) {
				t.Fatalf("identity rewrite: %v\n got %x\nwant %x", err, same, in)
			}
			i := bytes.Index(p.Payload, []byte(tc.old))
			out, err := rewrite(nil, in, off, end, p.Proto, []cthelper.Rewrite{{Off: i, Len: len(tc.old), Data: []byte(tc.new)}})
			if err != nil {
				t.Fatal(err)
			}
			if want := mustHex(t, tc.want); !bytes.Equal(out, want) {
				t.Fatalf("rewritten\n got %x\nwant %x", out, want)
			}
		})
	}
}

func TestRewriteBounds(t *testing.T) {
	in := mustHex(t, v4Reply227)
	var p cthelper.Packet
	off, _ := decodeIP(in, &p)
	end := off.payload + len(p.Payload)
	for _, ws := range [][]cthelper.Rewrite{
		{{Off: len(p.Payload), Len: 1}},
		{{Off: 5, Len: 2}, {Off: 4, Len: 1}},
		{{Off: 0, Len: -1}},
	} {
		if _, err := rewrite(nil, in, off, end, p.Proto, ws); err == nil {
			t.Errorf("rewrite %+v accepted", ws)
		}
	}
	big := make([]byte, 70000)
	if _, err := rewrite(nil, in, off, end, p.Proto, []cthelper.Rewrite{{Off: 0, Len: 1, Data: big}}); err == nil {
		t.Error("a rewrite past what a verdict carries accepted")
	}
}
