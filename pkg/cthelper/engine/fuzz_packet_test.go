package engine_test

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/gonfct/gonfct/pkg/cthelper"
	"github.com/gonfct/gonfct/pkg/cthelper/engine"
	"github.com/gonfct/gonfct/pkg/cthelper/replay"
	"github.com/gonfct/gonfct/pkg/ctnl"
	"github.com/gonfct/gonfct/pkg/nfq"
	"golang.org/x/sys/unix"
)

// The packet path the parsers never see: the engine's IPv4/IPv6 decoder
// (extension headers included) and its payload rewrite with the length
// and checksum fixes, fuzzed from every packet of the parsers' captures.
// The checks re-read the bytes and recompute checksums the slow, obvious
// way, independently of the engine's code.

// seedPackets is packets of every capture in the parsers' and the
// replay's testdata (the first without a transport payload and the first
// few with one), as captured and with lengths and checksums made right
// (captures on loopback carry partial checksums), plus IPv6 packets of
// the captures behind extension header chains.
func seedPackets(tb testing.TB) [][]byte {
	tb.Helper()
	files, err := filepath.Glob(filepath.Join("..", "*", "testdata", "*.pcap*"))
	if err != nil || len(files) == 0 {
		tb.Fatalf("no captures: %v", err)
	}
	var seeds [][]byte
	var v6 [][]byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			tb.Fatal(err)
		}
		frames, err := replay.Parse(b)
		if err != nil {
			tb.Fatalf("%s: %v", f, err)
		}
		var empty, full int
		for _, fr := range frames {
			if fr.IP == nil {
				continue
			}
			var p cthelper.Packet
			if _, err := engine.DecodePacket(fr.IP, &p); err == nil && len(p.Payload) == 0 {
				if empty++; empty > 1 {
					continue
				}
			} else if full++; full > 6 {
				continue
			}
			seeds = append(seeds, fr.IP)
			if fixed, ok := fixLengthsAndChecksums(fr.IP); ok {
				seeds = append(seeds, fixed)
				if fixed[0]>>4 == 6 && (fixed[6] == unix.IPPROTO_TCP || fixed[6] == unix.IPPROTO_UDP) && len(v6) < 8 {
					v6 = append(v6, fixed)
				}
			}
		}
	}
	for _, b := range v6 {
		for _, chain := range extChains {
			seeds = append(seeds, withExtHeaders(b, chain...))
		}
	}
	return seeds
}

// extChains are the IPv6 extension header chains the seeds and
// TestDecodeIPv6ExtensionChains put in front of transport headers: each
// kind alone, the order RFC 8200 recommends, and the longest the decoder
// walks.
var extChains = [][]uint8{
	{unix.IPPROTO_HOPOPTS},
	{unix.IPPROTO_DSTOPTS},
	{unix.IPPROTO_ROUTING},
	{unix.IPPROTO_FRAGMENT},
	{unix.IPPROTO_AH},
	{unix.IPPROTO_HOPOPTS, unix.IPPROTO_DSTOPTS, unix.IPPROTO_ROUTING, unix.IPPROTO_FRAGMENT, unix.IPPROTO_AH, unix.IPPROTO_DSTOPTS},
	slices.Repeat([]uint8{unix.IPPROTO_DSTOPTS}, 8),
}

// withExtHeaders puts IPv6 extension headers (their next-header values,
// in order) between the IPv6 header of b, which has none, and its
// transport header.
func withExtHeaders(b []byte, chain ...uint8) []byte {
	out := slices.Clone(b[:40])
	transport := b[6]
	out[6] = chain[0]
	for i, h := range chain {
		next := transport
		if i+1 < len(chain) {
			next = chain[i+1]
		}
		switch h {
		case unix.IPPROTO_HOPOPTS, unix.IPPROTO_DSTOPTS:
			out = append(out, next, 0, 1, 4, 0, 0, 0, 0) // one PadN option: 8 bytes
		case unix.IPPROTO_ROUTING:
			out = append(out, next, 2, 0, 0, 0, 0, 0, 0) // no segments left, one address: 24 bytes
			out = append(out, b[24:40]...)
		case unix.IPPROTO_FRAGMENT:
			out = append(out, next, 0, 0, 0, 0, 0, 0, 1) // offset 0, no more fragments (atomic)
		case unix.IPPROTO_AH:
			out = append(out, next, 4, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1) // 24 bytes: SPI, sequence, 12-byte ICV
			out = append(out, make([]byte, 12)...)
		}
	}
	out = append(out, b[40:]...)
	binary.BigEndian.PutUint16(out[4:], uint16(len(out)-40))
	return out
}

// Every extension header kind, alone and chained, is skipped to the
// transport header, which decodes as it does without them; a chain
// longer than the decoder walks, or cut short, is refused.
func TestDecodeIPv6ExtensionChains(t *testing.T) {
	var plain []byte
	for _, b := range seedPackets(t) {
		if b[0]>>4 == 6 && b[6] == unix.IPPROTO_UDP && len(b) > 48 {
			plain = b
			break
		}
	}
	if plain == nil {
		t.Fatal("no IPv6 UDP packet in the captures")
	}
	var want cthelper.Packet
	if _, err := engine.DecodePacket(plain, &want); err != nil {
		t.Fatal(err)
	}
	for _, chain := range extChains {
		b := withExtHeaders(plain, chain...)
		var p cthelper.Packet
		off, err := engine.DecodePacket(b, &p)
		if err != nil {
			t.Errorf("chain %v: %v", chain, err)
			continue
		}
		if off.L4 != 40+len(b)-len(plain) || p.Src != want.Src || p.Dst != want.Dst || p.Proto != want.Proto ||
			p.SrcPort != want.SrcPort || p.DstPort != want.DstPort || !bytes.Equal(p.Payload, want.Payload) {
			t.Errorf("chain %v: transport at %d, decoded %+v, want %+v", chain, off.L4, p, want)
		}
		for _, cut := range []int{41, off.L4 - 1} {
			if _, err := engine.DecodePacket(b[:cut], &p); err == nil {
				t.Errorf("chain %v cut at %d bytes: decoded", chain, cut)
			}
		}
	}
	if _, err := engine.DecodePacket(withExtHeaders(plain, slices.Repeat([]uint8{unix.IPPROTO_DSTOPTS}, 9)...), new(cthelper.Packet)); err == nil {
		t.Error("a chain of 9 extension headers decoded")
	}
	frag := withExtHeaders(plain, unix.IPPROTO_FRAGMENT)
	frag[43] = 1 // more fragments follow
	if _, err := engine.DecodePacket(frag, new(cthelper.Packet)); err == nil {
		t.Error("a first fragment decoded")
	}
}

func FuzzDecodeIP(f *testing.F) {
	for _, b := range seedPackets(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var p cthelper.Packet
		off, err := engine.DecodePacket(b, &p)
		if err != nil {
			return
		}
		checkDecoded(t, b, &p, off)
	})
}

// checkDecoded re-reads what DecodePacket said about b from the bytes.
func checkDecoded(t *testing.T, b []byte, p *cthelper.Packet, off engine.Offsets) {
	t.Helper()
	end := len(b)
	switch b[0] >> 4 {
	case 4:
		ihl := int(b[0]&0x0f) * 4
		end = min(end, int(binary.BigEndian.Uint16(b[2:])))
		if p.Family != unix.AF_INET || off.L4 != ihl || p.Proto != b[9] || binary.BigEndian.Uint16(b[6:])&0x3fff != 0 ||
			p.Src.As4() != [4]byte(b[12:16]) || p.Dst.As4() != [4]byte(b[16:20]) {
			t.Fatalf("IPv4 header % x decoded as %+v at %+v", b[:min(len(b), 20)], p, off)
		}
	case 6:
		end = min(end, 40+int(binary.BigEndian.Uint16(b[4:])))
		if p.Family != unix.AF_INET6 || off.L4 < 40 || off.L4 == 40 && p.Proto != b[6] ||
			p.Src.As16() != [16]byte(b[8:24]) || p.Dst.As16() != [16]byte(b[24:40]) {
			t.Fatalf("IPv6 header % x decoded as %+v at %+v", b[:40], p, off)
		}
	default:
		t.Fatalf("IP version %d decoded", b[0]>>4)
	}
	if off.Payload > end {
		t.Fatalf("payload at %d, past the packet's end %d", off.Payload, end)
	}
	l4 := b[off.L4:end]
	switch p.Proto {
	case unix.IPPROTO_TCP:
		if off.Payload-off.L4 != int(l4[12]>>4)*4 || off.Payload-off.L4 < 20 || p.Seq != binary.BigEndian.Uint32(l4[4:]) {
			t.Fatalf("TCP header % x: payload at %d from %d, seq %d", l4[:20], off.Payload, off.L4, p.Seq)
		}
	case unix.IPPROTO_UDP:
		if off.Payload-off.L4 != 8 || p.Seq != 0 {
			t.Fatalf("UDP header: payload at %d from %d, seq %d", off.Payload, off.L4, p.Seq)
		}
	default:
		t.Fatalf("protocol %d decoded", p.Proto)
	}
	if p.SrcPort != binary.BigEndian.Uint16(l4) || p.DstPort != binary.BigEndian.Uint16(l4[2:]) {
		t.Fatalf("ports %d -> %d, header says % x", p.SrcPort, p.DstPort, l4[:4])
	}
	if !bytes.Equal(p.Payload, b[off.Payload:end]) || len(p.Payload) > 0 && &p.Payload[0] != &b[off.Payload] {
		t.Fatal("payload is not the packet's bytes from the transport payload to the packet's end")
	}
}

// FuzzRewrite applies two payload rewrites (as given, or brought into the
// payload when clamp is set) to a decoded packet and checks the result
// against a from-scratch splice and from-scratch checksums; on a packet
// whose lengths and checksums were right, no rewrite gives back the same
// bytes and the inverse rewrites give back the original.
func FuzzRewrite(f *testing.F) {
	for i, b := range seedPackets(f) {
		n := len(b) / 2
		f.Add(b, int16(i%7), int16(3), []byte("10,0,0,1"), int16(n), int16(i%5), []byte{}, true)
		f.Add(b, int16(0), int16(0), []byte{}, int16(0), int16(0), []byte("x"), false)
	}
	f.Fuzz(func(t *testing.T, b []byte, o1, l1 int16, d1 []byte, o2, l2 int16, d2 []byte, clamp bool) {
		var p cthelper.Packet
		off, err := engine.DecodePacket(b, &p)
		if err != nil {
			return
		}
		n := len(p.Payload)
		end := off.Payload + n
		w1 := cthelper.Rewrite{Off: int(o1), Len: int(l1), Data: d1}
		w2 := cthelper.Rewrite{Off: int(o2), Len: int(l2), Data: d2}
		if clamp {
			w1.Off = abs(w1.Off) % (n + 1)
			w1.Len = abs(w1.Len) % (n - w1.Off + 1)
			w2.Off = w1.Off + w1.Len + abs(w2.Off)%(n-w1.Off-w1.Len+1)
			w2.Len = abs(w2.Len) % (n - w2.Off + 1)
		}
		valid := w1.Off >= 0 && w1.Len >= 0 && w1.Off+w1.Len <= w2.Off && w2.Len >= 0 && w2.Off+w2.Len <= n
		var payload []byte
		if valid {
			payload = slices.Concat(p.Payload[:w1.Off], d1, p.Payload[w1.Off+w1.Len:w2.Off], d2, p.Payload[w2.Off+w2.Len:])
		}
		fits := off.Payload+len(payload) <= nfq.MaxPayload
		out, err := engine.RewritePacket(nil, b, off, end, p.Proto, []cthelper.Rewrite{w1, w2})
		if err != nil {
			if valid && fits {
				t.Fatalf("rewrites %+v %+v of a %d-byte payload: %v", w1, w2, n, err)
			}
			return
		}
		if !valid || !fits {
			t.Fatalf("rewrites %+v %+v of a %d-byte payload (valid %v, fits %v) accepted", w1, w2, n, valid, fits)
		}
		checkRewritten(t, b, out, off, end, p.Proto, payload)

		if !rightLengthsAndChecksums(b) {
			return
		}
		same, err := engine.RewritePacket(nil, b, off, end, p.Proto, nil)
		if err != nil || !bytes.Equal(same, b) {
			t.Fatalf("no rewrite: %v\n got % x\nwant % x", err, same, b)
		}
		grown := len(d1) - w1.Len
		back, err := engine.RewritePacket(nil, out, off, len(out), p.Proto, []cthelper.Rewrite{
			{Off: w1.Off, Len: len(d1), Data: p.Payload[w1.Off : w1.Off+w1.Len]},
			{Off: w2.Off + grown, Len: len(d2), Data: p.Payload[w2.Off : w2.Off+w2.Len]},
		})
		want := b
		if len(out) != len(b) {
			want = seqAdjustMarked(b, off, p.Proto)
		}
		if err != nil || !bytes.Equal(back, want) {
			t.Fatalf("inverse rewrites: %v\n got % x\nwant % x", err, back, want)
		}
	})
}

// A rewritten packet is at most what a verdict carries back: one byte
// more and NFQA_PAYLOAD's 16-bit length would wrap, and the kernel would
// read the verdict's attributes wrong.
func TestRewriteFitsInVerdict(t *testing.T) {
	var b []byte
	for _, s := range seedPackets(t) {
		if rightLengthsAndChecksums(s) && s[0]>>4 == 4 {
			b = s
			break
		}
	}
	var p cthelper.Packet
	off, err := engine.DecodePacket(b, &p)
	if err != nil {
		t.Fatal(err)
	}
	end := off.Payload + len(p.Payload)
	grow := func(n int) []cthelper.Rewrite {
		return []cthelper.Rewrite{{Off: 0, Len: len(p.Payload), Data: make([]byte, n-off.Payload)}}
	}
	out, err := engine.RewritePacket(nil, b, off, end, p.Proto, grow(nfq.MaxPayload))
	if err != nil || len(out) != nfq.MaxPayload {
		t.Fatalf("rewrite to %d bytes: %v", nfq.MaxPayload, err)
	}
	var v nfq.Verdict
	v.Start(1, 1, nfq.Accept)
	v.Payload(out)
	s := ctnl.NewScanner(v.Bytes()[20:])
	for s.Next() {
		if s.Type() == 10 && !bytes.Equal(s.Data(), out) { // NFQA_PAYLOAD
			t.Fatalf("verdict carries %d bytes of payload, want %d", len(s.Data()), len(out))
		}
	}
	if s.Err() != nil {
		t.Fatal(s.Err())
	}
	if _, err := engine.RewritePacket(nil, b, off, end, p.Proto, grow(nfq.MaxPayload+1)); err == nil {
		t.Fatalf("rewrite to %d bytes accepted", nfq.MaxPayload+1)
	}
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

// seqAdjustMarked is b as a rewrite to another length leaves its
// headers: an IPv6 TCP packet carries the offset of its TCP header, in
// 4-byte units, in the low nibble of its first byte, where Linux's
// sequence adjustment looks for it (see rewrite in packet.go).
func seqAdjustMarked(b []byte, off engine.Offsets, proto uint8) []byte {
	if b[0]>>4 != 6 || proto != unix.IPPROTO_TCP || off.L4 > 60 {
		return b
	}
	b = slices.Clone(b)
	b[0] = 0x60 | byte(off.L4/4)
	return b
}

// checkRewritten checks that out is b (whose payload ended at end) with
// the transport payload replaced, its lengths set and its checksums
// right.
func checkRewritten(t *testing.T, b, out []byte, off engine.Offsets, end int, proto uint8, payload []byte) {
	t.Helper()
	if len(out) != off.Payload+len(payload) || !bytes.Equal(out[off.Payload:], payload) {
		t.Fatalf("rewritten payload\n got % x\nwant % x", out[min(off.Payload, len(out)):], payload)
	}
	if len(out) != end {
		b = seqAdjustMarked(b, off, proto)
	}
	// Headers are unchanged but for lengths and checksums (and the mark).
	mask := func(h []byte, fields ...int) []byte {
		h = slices.Clone(h)
		for _, i := range fields {
			h[i], h[i+1] = 0, 0
		}
		return h
	}
	ipFields, l4Fields := []int{4}, []int{16}
	if b[0]>>4 == 4 {
		ipFields = []int{2, 10}
	}
	if proto == unix.IPPROTO_UDP {
		l4Fields = []int{4, 6}
	}
	if !bytes.Equal(mask(out[:off.L4], ipFields...), mask(b[:off.L4], ipFields...)) ||
		!bytes.Equal(mask(out[off.L4:off.Payload], l4Fields...), mask(b[off.L4:off.Payload], l4Fields...)) {
		t.Fatalf("headers changed beyond lengths and checksums\n got % x\nwant % x", out[:off.Payload], b[:off.Payload])
	}
	if !rightLengthsAndChecksums(out) {
		t.Fatalf("rewritten packet's lengths or checksums are wrong: % x", out)
	}
	var p cthelper.Packet
	off2, err := engine.DecodePacket(out, &p)
	if err != nil || off2 != off || !bytes.Equal(p.Payload, payload) {
		t.Fatalf("rewritten packet decodes with %v at %+v (was %+v)", err, off2, off)
	}
}

// rightLengthsAndChecksums says whether the IP length (and UDP length)
// of b, a decodable packet, cover exactly its bytes and its IPv4 header
// and TCP or UDP checksums are right (and UDP's is not 0, "none").
func rightLengthsAndChecksums(b []byte) bool {
	var p cthelper.Packet
	off, err := engine.DecodePacket(b, &p)
	if err != nil {
		return false
	}
	if b[0]>>4 == 4 {
		if int(binary.BigEndian.Uint16(b[2:])) != len(b) || checksum(b[:off.L4]) != 0 {
			return false
		}
	} else if 40+int(binary.BigEndian.Uint16(b[4:])) != len(b) {
		return false
	}
	l4 := b[off.L4:]
	if p.Proto == unix.IPPROTO_UDP && (int(binary.BigEndian.Uint16(l4[4:])) != len(l4) || binary.BigEndian.Uint16(l4[6:]) == 0) {
		return false
	}
	return l4Checksum(b, off.L4, p.Proto) == binary.BigEndian.Uint16(l4[l4ChecksumAt(p.Proto):])
}

// fixLengthsAndChecksums returns a copy of b with its lengths made to
// cover its bytes and its checksums computed from scratch.
func fixLengthsAndChecksums(b []byte) ([]byte, bool) {
	b = slices.Clone(b)
	var p cthelper.Packet
	off, err := engine.DecodePacket(b, &p)
	if err != nil {
		return nil, false
	}
	b = b[:off.Payload+len(p.Payload)]
	if b[0]>>4 == 4 {
		binary.BigEndian.PutUint16(b[2:], uint16(len(b)))
		binary.BigEndian.PutUint16(b[10:], 0)
		binary.BigEndian.PutUint16(b[10:], checksum(b[:off.L4]))
	} else {
		binary.BigEndian.PutUint16(b[4:], uint16(len(b)-40))
	}
	l4 := b[off.L4:]
	if p.Proto == unix.IPPROTO_UDP {
		binary.BigEndian.PutUint16(l4[4:], uint16(len(l4)))
	}
	binary.BigEndian.PutUint16(l4[l4ChecksumAt(p.Proto):], l4Checksum(b, off.L4, p.Proto))
	return b, true
}

func l4ChecksumAt(proto uint8) int {
	if proto == unix.IPPROTO_UDP {
		return 6
	}
	return 16
}

// l4Checksum is the TCP or UDP checksum b's transport header should
// carry: over the pseudo-header (RFC 793, RFC 8200 8.1) and the transport
// header and payload with the checksum field zeroed.
func l4Checksum(b []byte, l4off int, proto uint8) uint16 {
	l4 := slices.Clone(b[l4off:])
	at := l4ChecksumAt(proto)
	l4[at], l4[at+1] = 0, 0
	var pseudo []byte
	if b[0]>>4 == 4 {
		pseudo = append(slices.Clone(b[12:20]), 0, proto)
		pseudo = binary.BigEndian.AppendUint16(pseudo, uint16(len(l4)))
	} else {
		pseudo = slices.Clone(b[8:40])
		pseudo = binary.BigEndian.AppendUint32(pseudo, uint32(len(l4)))
		pseudo = append(pseudo, 0, 0, 0, proto)
	}
	c := checksum(append(pseudo, l4...))
	if c == 0 && proto == unix.IPPROTO_UDP {
		c = 0xffff // 0 means "no checksum" in UDP
	}
	return c
}

// checksum is the Internet checksum of b (RFC 1071), the obvious way:
// the complement of the ones' complement sum of its 16-bit words. Over
// bytes that carry a right checksum it is 0.
func checksum(b []byte) uint16 {
	var s uint64
	for i := 0; i < len(b); i += 2 {
		w := uint64(b[i]) << 8
		if i+1 < len(b) {
			w |= uint64(b[i+1])
		}
		s += w
	}
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return ^uint16(s)
}
