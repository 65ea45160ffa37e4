package nfq

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/gonfct/gonfct/pkg/ctnetlink"
	"github.com/gonfct/gonfct/pkg/ctnl"
	"github.com/ti-mo/netfilter"
)

func packetMessage(attrs []byte) ctnl.Message {
	return ctnl.Message{
		Header: netfilter.Header{SubsystemID: subsysQueue, MessageType: msgPacket, Family: netfilter.ProtoIPv4, ResourceID: 5},
		Attrs:  attrs,
	}
}

func TestDecodePacket(t *testing.T) {
	e := ctnl.NewEncoder(nil)
	e.Put(attrPacketHdr, []byte{0, 0, 1, 2, 0x08, 0x00, 3})
	ct := e.Nest(attrCT)
	e.Uint32(3, 0x188) // CTA_STATUS
	e.End(ct)
	e.Uint32(attrCTInfo, 3)
	e.Put(attrPayload, []byte{0x45, 1, 2, 3})
	e.Uint32(attrCapLen, 1500)
	var p Packet
	if err := p.Decode(packetMessage(e.Bytes())); err != nil {
		t.Fatal(err)
	}
	if p.Queue != 5 || p.Family != 2 || p.ID != 0x102 || p.HWProto != 0x0800 || p.Hook != 3 {
		t.Fatalf("header fields %+v", p)
	}
	if !p.HasCTInfo || p.CTInfo != 3 || len(p.CT) != 8 || !bytes.Equal(p.Payload, []byte{0x45, 1, 2, 3}) {
		t.Fatalf("ct/payload fields %+v", p)
	}
	if !p.Truncated() {
		t.Fatal("a packet with NFQA_CAP_LEN above its payload is truncated")
	}
}

func TestDecodePacketErrors(t *testing.T) {
	var p Packet
	if err := p.Decode(packetMessage(nil)); err == nil {
		t.Fatal("a packet without NFQA_PACKET_HDR decoded")
	}
	e := ctnl.NewEncoder(nil)
	e.Put(attrPacketHdr, []byte{0, 0, 1})
	if err := p.Decode(packetMessage(e.Bytes())); err == nil {
		t.Fatal("a short packet header decoded")
	}
	if err := p.Decode(packetMessage([]byte{9, 0, 1})); err == nil {
		t.Fatal("a truncated attribute decoded")
	}
	m := packetMessage(nil)
	m.Header.MessageType = msgConfig
	if err := p.Decode(m); err != ErrNotPacket {
		t.Fatalf("config message: %v, want ErrNotPacket", err)
	}
}

// The verdict as the kernel's nfqnl_recv_verdict reads it: nlmsghdr with
// NFNL_SUBSYS_QUEUE/NFQNL_MSG_VERDICT, nfgenmsg with the queue in res_id,
// VERDICT_HDR, NFQA_CT{CTA_HELP{NAME, INFO}}, NFQA_EXP.
func TestVerdictBytes(t *testing.T) {
	var v Verdict
	v.Start(5, 0x0a0b0c0d, Accept)
	v.HelpInfo("ftp", []byte{1, 2, 3, 4})
	v.Expect().Uint32(6, 0x55) // stands for CTA_EXPECT_* attributes
	b := v.Bytes()

	want := []byte{}
	le32 := func(x uint32) []byte { return binary.NativeEndian.AppendUint32(nil, x) }
	le16 := func(x uint16) []byte { return binary.NativeEndian.AppendUint16(nil, x) }
	attrs := []byte{}
	attrs = append(attrs, le16(12)...)
	attrs = append(attrs, le16(attrVerdictHdr)...)
	attrs = append(attrs, 0, 0, 0, 1, 0x0a, 0x0b, 0x0c, 0x0d)
	// NFQA_CT (4) + CTA_HELP (4) + NAME "ftp\0" (8) + INFO (8) = 24
	attrs = append(attrs, le16(24)...)
	attrs = append(attrs, le16(attrCT|0x8000)...)
	attrs = append(attrs, le16(20)...)
	attrs = append(attrs, le16(ctnetlink.AttrHelp|0x8000)...)
	attrs = append(attrs, le16(8)...)
	attrs = append(attrs, le16(ctnetlink.AttrHelpName)...)
	attrs = append(attrs, 'f', 't', 'p', 0)
	attrs = append(attrs, le16(8)...)
	attrs = append(attrs, le16(ctnetlink.AttrHelpInfo)...)
	attrs = append(attrs, 1, 2, 3, 4)
	attrs = append(attrs, le16(12)...)
	attrs = append(attrs, le16(attrExp|0x8000)...)
	attrs = append(attrs, le16(8)...)
	attrs = append(attrs, le16(6)...)
	attrs = append(attrs, 0, 0, 0, 0x55)
	want = append(want, le32(uint32(16+4+len(attrs)))...)
	want = append(want, le16(subsysQueue<<8|msgVerdict)...)
	want = append(want, le16(1)...) // NLM_F_REQUEST
	want = append(want, le32(0)...)
	want = append(want, le32(0)...)
	want = append(want, 0, 0, 0, 5)
	want = append(want, attrs...)
	if !bytes.Equal(b, want) {
		t.Fatalf("verdict\n got % x\nwant % x", b, want)
	}
}

// An expectation alone still needs an NFQA_CT next to it: the kernel
// attaches NFQA_EXP only after parsing NFQA_CT.
func TestVerdictExpectAddsEmptyCT(t *testing.T) {
	var v Verdict
	v.Start(1, 7, Accept)
	v.Expect().Uint32(6, 1)
	b := v.Bytes()
	s := ctnl.NewScanner(b[20:])
	var types []uint16
	for s.Next() {
		types = append(types, s.Type())
		if s.Type() == attrCT && len(s.Data()) != 0 {
			t.Fatalf("NFQA_CT not empty: % x", s.Data())
		}
	}
	if len(types) != 3 || types[0] != attrVerdictHdr || types[1] != attrCT || types[2] != attrExp {
		t.Fatalf("attribute order %v, want VERDICT_HDR, CT, EXP", types)
	}
	// A plain verdict is header-only, and re-Start forgets the last one.
	v.Start(1, 8, Drop)
	if n := len(v.Bytes()); n != 16+4+12 {
		t.Fatalf("plain verdict of %d bytes, want 32", n)
	}
}

func TestVerdictAllocations(t *testing.T) {
	var v Verdict
	info := make([]byte, 24)
	v.Start(1, 1, Accept)
	v.HelpInfo("ftp", info)
	v.Bytes()
	n := testing.AllocsPerRun(100, func() {
		v.Start(1, 2, Accept)
		v.HelpInfo("ftp", info)
		v.Expect().Uint32(6, 1)
		v.Bytes()
	})
	if n != 0 {
		t.Fatalf("%v allocations per verdict, want 0", n)
	}
}

// Requests go ahead of the verdict, each a whole netlink message.
func TestVerdictWithRequest(t *testing.T) {
	var v Verdict
	v.Start(2, 9, Accept)
	v.Request(2, 0, 2, 0x400|0x4, 77, []byte{8, 0, 1, 0, 1, 2, 3, 4}) // CTNETLINK_EXP, EXP_NEW, AF_INET, CREATE|ACK
	b := v.Bytes()
	l1 := int(binary.NativeEndian.Uint32(b))
	if l1 != 16+4+8 || binary.NativeEndian.Uint16(b[4:]) != 2<<8 || binary.NativeEndian.Uint16(b[6:]) != 0x405 ||
		binary.NativeEndian.Uint32(b[8:]) != 77 || b[16] != 2 {
		t.Fatalf("request message % x", b[:l1])
	}
	rest := b[l1:]
	if int(binary.NativeEndian.Uint32(rest)) != len(rest) || binary.NativeEndian.Uint16(rest[4:]) != subsysQueue<<8|msgVerdict {
		t.Fatalf("verdict message % x", rest)
	}
	v.Start(2, 10, Accept)
	if len(v.Bytes()) != 32 {
		t.Fatal("Start did not forget the requests")
	}
}

// A master's new timeout rides in NFQA_CT as CTA_TIMEOUT (be32 seconds),
// in the same nest as CTA_HELP.
func TestVerdictTimeout(t *testing.T) {
	var v Verdict
	v.Start(1, 9, Accept)
	v.HelpInfo("amanda", nil)
	v.Timeout(300)
	s := ctnl.NewScanner(v.Bytes()[20:])
	var ct []uint16
	var secs uint32
	for s.Next() {
		if s.Type() != attrCT {
			continue
		}
		n := s.Nested()
		for n.Next() {
			ct = append(ct, n.Type())
			if n.Type() == ctnetlink.AttrTimeout {
				secs = n.Uint32()
			}
		}
	}
	if len(ct) != 2 || ct[0] != ctnetlink.AttrHelp || ct[1] != ctnetlink.AttrTimeout || secs != 300 {
		t.Fatalf("NFQA_CT holds %v with timeout %d, want [CTA_HELP CTA_TIMEOUT] and 300", ct, secs)
	}
}
