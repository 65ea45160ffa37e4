package nfq

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"os"
	"strings"
	"testing"

	"github.com/gonfct/gonfct/pkg/ctnetlink"
	"github.com/gonfct/gonfct/pkg/ctnl"
	"golang.org/x/sys/unix"
)

// realPackets are the attributes of NFQUEUE packet messages as kernels
// sent them (see testdata/real-packets.txt for how they were taken).
func realPackets(tb testing.TB) [][]byte {
	tb.Helper()
	b, err := os.ReadFile("testdata/real-packets.txt")
	if err != nil {
		tb.Fatal(err)
	}
	var out [][]byte
	for _, line := range strings.Split(string(b), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		attrs, err := hex.DecodeString(line)
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, attrs)
	}
	return out
}

// The real packets decode whole: header, conntrack glue, the IP packet.
func TestDecodeRealPackets(t *testing.T) {
	for i, attrs := range realPackets(t) {
		var p Packet
		if err := p.Decode(packetMessage(attrs)); err != nil {
			t.Fatalf("packet %d: %v", i, err)
		}
		if p.ID == 0 || p.Hook != 3 || !p.HasCTInfo || len(p.CT) == 0 || len(p.Payload) < 40 ||
			p.HWProto == 0x0800 && p.Payload[0]>>4 != 4 || p.HWProto == 0x86dd && p.Payload[0]>>4 != 6 {
			t.Errorf("packet %d: %+v", i, p)
		}
	}
}

// FuzzDecodePacket decodes arbitrary attributes as a queued packet: no
// panic, the payload and conntrack alias the message, and what decoded
// encodes (in the kernel's layout) to attributes that decode the same.
func FuzzDecodePacket(f *testing.F) {
	for _, attrs := range realPackets(f) {
		f.Add(attrs)
	}
	f.Fuzz(func(t *testing.T, attrs []byte) {
		var p Packet
		if err := p.Decode(packetMessage(attrs)); err != nil {
			return
		}
		for _, b := range [][]byte{p.Payload, p.CT} {
			if !within(b, attrs) {
				t.Fatalf("% x is not a slice of the message", b)
			}
		}
		var again Packet
		if err := again.Decode(packetMessage(encodePacket(&p))); err != nil {
			t.Fatalf("re-encoded %+v: %v", p, err)
		}
		if !samePacket(&again, &p) {
			t.Fatalf("re-encoded packet decodes as\n%+v\nwant\n%+v", again, p)
		}
	})
}

// within says whether d, unless empty, is a slice of b's bytes.
func within(d, b []byte) bool {
	if len(d) == 0 {
		return true
	}
	for i := range b {
		if &b[i] == &d[0] {
			return i+len(d) <= len(b)
		}
	}
	return false
}

// encodePacket lays p out as the kernel's nfqnl_build_packet_message
// does (the attributes Decode reads).
func encodePacket(p *Packet) []byte {
	e := ctnl.NewEncoder(nil)
	var hdr [7]byte
	binary.BigEndian.PutUint32(hdr[:], p.ID)
	binary.BigEndian.PutUint16(hdr[4:], p.HWProto)
	hdr[6] = p.Hook
	e.Put(attrPacketHdr, hdr[:])
	if p.Mark != 0 {
		e.Uint32(attrMark, p.Mark)
	}
	if p.CT != nil {
		e.Put(attrCT|0x8000, p.CT)
	}
	if p.HasCTInfo {
		e.Uint32(attrCTInfo, p.CTInfo)
	}
	if p.CapLen != 0 {
		e.Uint32(attrCapLen, p.CapLen)
	}
	if p.SkbInfo != 0 {
		e.Uint32(attrSkbInfo, p.SkbInfo)
	}
	if p.Payload != nil {
		e.Put(attrPayload, p.Payload)
	}
	return e.Bytes()
}

func samePacket(a, b *Packet) bool {
	return a.Queue == b.Queue && a.Family == b.Family && a.ID == b.ID && a.HWProto == b.HWProto && a.Hook == b.Hook &&
		a.CapLen == b.CapLen && a.CTInfo == b.CTInfo && a.HasCTInfo == b.HasCTInfo && a.SkbInfo == b.SkbInfo &&
		a.Mark == b.Mark && bytes.Equal(a.Payload, b.Payload) && (a.Payload == nil) == (b.Payload == nil) &&
		bytes.Equal(a.CT, b.CT) && (a.CT == nil) == (b.CT == nil)
}

// FuzzVerdict builds verdicts from arbitrary parts and reads them back
// the way the kernel's nfqnl_recv_verdict does: every part is where it
// belongs, in messages and attributes whose lengths add up.
func FuzzVerdict(f *testing.F) {
	f.Add(uint16(5), uint32(77), true, "ftp", make([]byte, 24), uint32(0), uint32(0), []byte{}, false, []byte{}, []byte{})
	f.Add(uint16(0), uint32(1), false, "amanda", []byte{}, uint32(300), uint32(7), []byte("E\x00"), true, []byte{1, 2, 3}, []byte{8, 0, 1, 0, 1, 2, 3, 4})
	f.Add(uint16(65535), uint32(1<<31), true, "", []byte{}, uint32(0), uint32(0), make([]byte, MaxPayload), true, []byte{}, []byte{})
	f.Fuzz(func(t *testing.T, queue uint16, id uint32, accept bool, helper string, info []byte, timeout, mark uint32,
		payload []byte, seqAdjust bool, exp, request []byte) {
		if strings.IndexByte(helper, 0) >= 0 || len(payload) > MaxPayload || len(helper)+len(info) > 0xff00 || len(exp) > 0xff00 ||
			len(request)%4 != 0 {
			return // helper names are C strings, requests encoded attributes; the rest must fit in an attribute
		}
		verdict := Drop
		if accept {
			verdict = Accept
		}
		var v Verdict
		v.Start(queue, id, verdict)
		if request != nil {
			v.Request(2, 0, unix.AF_INET, unix.NLM_F_ACK, 9, request)
		}
		if helper != "" {
			v.HelpInfo(helper, info)
		}
		if timeout != 0 {
			v.Timeout(timeout)
		}
		if len(exp) > 0 {
			v.Expect().Put(1, exp)
		}
		if payload != nil {
			v.Payload(payload)
		}
		if seqAdjust {
			v.SeqAdjust()
		}
		if mark != 0 {
			v.Mark(mark)
		}
		b := v.Bytes()

		// The request, whole, ahead of the verdict (the kernel finds the
		// next message at the 4-aligned end of one).
		if request != nil {
			n := int(binary.NativeEndian.Uint32(b))
			if n != 20+len(request) || n > len(b) || binary.NativeEndian.Uint16(b[4:]) != 2<<8 || !bytes.Equal(b[20:n], request) {
				t.Fatalf("request message % x", b[:min(n, len(b))])
			}
			b = b[min((n+3)&^3, len(b)):]
		}
		if int(binary.NativeEndian.Uint32(b)) != len(b) || binary.NativeEndian.Uint16(b[4:]) != subsysQueue<<8|msgVerdict ||
			binary.NativeEndian.Uint16(b[6:]) != unix.NLM_F_REQUEST || b[16] != unix.AF_UNSPEC || binary.BigEndian.Uint16(b[18:]) != queue {
			t.Fatalf("verdict header % x (message of %d bytes)", b[:20], len(b))
		}
		var got struct {
			verdict, id, timeout, mark uint32
			helper                     string
			info, payload, exp         []byte
			hasCT, hasHelp             bool
		}
		s := ctnl.NewScanner(b[20:])
		for s.Next() {
			switch s.Type() {
			case attrVerdictHdr:
				got.verdict, got.id = binary.BigEndian.Uint32(s.Data()), binary.BigEndian.Uint32(s.Data()[4:])
			case attrMark:
				got.mark = s.Uint32()
			case attrPayload:
				got.payload = s.Data()
			case attrCT:
				got.hasCT = true
				ct := s.Nested()
				for ct.Next() {
					switch ct.Type() {
					case ctnetlink.AttrTimeout:
						got.timeout = ct.Uint32()
					case ctnetlink.AttrHelp:
						got.hasHelp = true
						h := ct.Nested()
						for h.Next() {
							switch h.Type() {
							case ctnetlink.AttrHelpName:
								got.helper = h.String()
							case ctnetlink.AttrHelpInfo:
								got.info = h.Data()
							}
						}
					}
				}
			case attrExp:
				e := s.Nested()
				for e.Next() {
					if e.Type() == 1 {
						got.exp = e.Data()
					}
				}
			default:
				t.Fatalf("verdict carries attribute %d", s.Type())
			}
		}
		if err := s.Err(); err != nil {
			t.Fatalf("verdict attributes: %v: % x", err, b[20:])
		}
		if got.verdict != verdict || got.id != id || got.mark != mark || got.timeout != timeout ||
			got.hasHelp != (helper != "") || got.helper != helper || helper != "" && !bytes.Equal(got.info, info) ||
			!bytes.Equal(got.payload, payload) || !bytes.Equal(got.exp, exp) ||
			got.hasCT != (helper != "" || timeout != 0 || len(exp) > 0 || seqAdjust) {
			t.Fatalf("verdict reads back as %+v", got)
		}
	})
}
