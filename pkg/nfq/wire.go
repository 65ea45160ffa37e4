package nfq

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/gonfct/gonfct/pkg/ctnetlink"
	"github.com/gonfct/gonfct/pkg/ctnl"
	"golang.org/x/sys/unix"
)

// nfnetlink_queue messages and attributes
// (uapi/linux/netfilter/nfnetlink_queue.h).
const (
	subsysQueue = 3 // NFNL_SUBSYS_QUEUE

	msgPacket  = 0 // NFQNL_MSG_PACKET
	msgVerdict = 1 // NFQNL_MSG_VERDICT
	msgConfig  = 2 // NFQNL_MSG_CONFIG

	attrPacketHdr  = 1  // NFQA_PACKET_HDR: be32 id, be16 hw_protocol, u8 hook
	attrVerdictHdr = 2  // NFQA_VERDICT_HDR: be32 verdict, be32 id
	attrMark       = 3  // NFQA_MARK
	attrPayload    = 10 // NFQA_PAYLOAD
	attrCT         = 11 // NFQA_CT, nested CTA_*
	attrCTInfo     = 12 // NFQA_CT_INFO, be32 enum ip_conntrack_info
	attrCapLen     = 13 // NFQA_CAP_LEN
	attrSkbInfo    = 14 // NFQA_SKB_INFO
	attrExp        = 15 // NFQA_EXP, nested CTA_EXPECT_*

	cfgCmd    = 1 // NFQA_CFG_CMD: u8 command, u8 pad, be16 pf
	cfgParams = 2 // NFQA_CFG_PARAMS: be32 copy_range, u8 copy_mode
	cfgMaxLen = 3 // NFQA_CFG_QUEUE_MAXLEN, be32
	cfgMask   = 4 // NFQA_CFG_MASK, be32
	cfgFlags  = 5 // NFQA_CFG_FLAGS, be32

	cmdBind   = 1 // NFQNL_CFG_CMD_BIND
	cmdUnbind = 2 // NFQNL_CFG_CMD_UNBIND

	copyPacket = 2 // NFQNL_COPY_PACKET
)

// Queue config flags (NFQA_CFG_F_*).
const (
	FlagFailOpen  = 1 << 0 // a full queue accepts instead of dropping
	FlagConntrack = 1 << 1 // packets carry NFQA_CT / NFQA_CT_INFO; verdicts may change them
	FlagGSO       = 1 << 2 // GSO packets are queued unsegmented
)

// Verdicts (NF_DROP, NF_ACCEPT).
const (
	Drop   uint32 = 0
	Accept uint32 = 1
)

// MaxCopyRange is the most of a packet the kernel copies to user space
// (it caps 0xffff to 64 KiB minus its own headers).
const MaxCopyRange = 0xffff

// MaxPayload is the largest packet a verdict carries back (Verdict.Payload):
// NFQA_PAYLOAD's 16-bit attribute length counts its own 4-byte header.
const MaxPayload = 0xffff - 4

// nfgenmsg is the 4-byte netfilter header after the netlink header.
func appendNfgenmsg(b []byte, family uint8, resID uint16) []byte {
	return append(b, family, 0, byte(resID>>8), byte(resID))
}

// appendMsgHeader starts a netlink message; its length is patched by
// endMsg.
func appendMsgHeader(b []byte, typ uint16, flags uint16) []byte {
	b = binary.NativeEndian.AppendUint32(b, 0)
	b = binary.NativeEndian.AppendUint16(b, typ)
	b = binary.NativeEndian.AppendUint16(b, flags)
	b = binary.NativeEndian.AppendUint32(b, 0) // sequence: verdicts need none
	b = binary.NativeEndian.AppendUint32(b, 0) // port id: the kernel fills it
	return b
}

func endMsg(b []byte, start int) {
	binary.NativeEndian.PutUint32(b[start:], uint32(len(b)-start))
}

// encodeBind is the config for BIND or UNBIND.
func encodeCmd(e *ctnl.Encoder, cmd uint8) {
	e.Put(cfgCmd, []byte{cmd, 0, 0, 0})
}

func encodeParams(e *ctnl.Encoder, copyRange uint32) {
	var p [5]byte
	binary.BigEndian.PutUint32(p[:], copyRange)
	p[4] = copyPacket
	e.Put(cfgParams, p[:])
}

func encodeFlags(e *ctnl.Encoder, flags, mask uint32) {
	e.Uint32(cfgFlags, flags)
	e.Uint32(cfgMask, mask)
}

// Packet is one queued packet. Payload and CT alias the receive buffer:
// they are valid until the next Receive, so a verdict built from them must
// be sent before.
type Packet struct {
	Queue   uint16 // the queue it came from (nfgenmsg res_id)
	Family  uint8  // NFPROTO_IPV4/IPV6 of the hook (nfgenmsg family)
	ID      uint32 // packet id, for the verdict
	HWProto uint16 // ethertype, host order
	Hook    uint8  // netfilter hook number

	// Payload is the packet from the network header on.
	Payload []byte
	// CapLen is the packet's real length when the kernel copied only part
	// of it (NFQA_CAP_LEN), else 0.
	CapLen uint32
	// CT is the payload of NFQA_CT: the conntrack's CTA_* attributes; nil
	// when the queue has no conntrack glue or the packet no conntrack.
	CT []byte
	// CTInfo is enum ip_conntrack_info (NFQA_CT_INFO); HasCTInfo says
	// whether the kernel sent it.
	CTInfo    uint32
	HasCTInfo bool
	// SkbInfo holds NFQA_SKB_INFO flags (checksum not ready, GSO).
	SkbInfo uint32
	Mark    uint32
}

// ErrNotPacket says a message was not an NFQUEUE packet.
var ErrNotPacket = errors.New("not an nfqueue packet message")

// Decode fills p from one received message without copying.
func (p *Packet) Decode(m ctnl.Message) error {
	if uint8(m.Header.SubsystemID) != subsysQueue || uint8(m.Header.MessageType) != msgPacket {
		return ErrNotPacket
	}
	*p = Packet{Queue: m.Header.ResourceID, Family: uint8(m.Header.Family)}
	hdr := false
	s := ctnl.NewScanner(m.Attrs)
	for s.Next() {
		d := s.Data()
		switch s.Type() {
		case attrPacketHdr:
			if len(d) < 7 {
				return fmt.Errorf("nfqueue packet header of %d bytes, want 7", len(d))
			}
			p.ID = binary.BigEndian.Uint32(d)
			p.HWProto = binary.BigEndian.Uint16(d[4:])
			p.Hook = d[6]
			hdr = true
		case attrPayload:
			p.Payload = d
		case attrCT:
			p.CT = d
		case attrCTInfo:
			p.CTInfo, p.HasCTInfo = s.Uint32(), true
		case attrCapLen:
			p.CapLen = s.Uint32()
		case attrSkbInfo:
			p.SkbInfo = s.Uint32()
		case attrMark:
			p.Mark = s.Uint32()
		}
	}
	if err := s.Err(); err != nil {
		return fmt.Errorf("decode nfqueue packet: %w", err)
	}
	if !hdr {
		return errors.New("nfqueue packet without NFQA_PACKET_HDR")
	}
	return nil
}

// Truncated reports whether the kernel copied only part of the packet.
func (p *Packet) Truncated() bool { return p.CapLen != 0 && int(p.CapLen) > len(p.Payload) }

// Verdict builds one verdict message in reusable buffers: Start, then
// optionally HelpInfo, Timeout, Expect, Payload and SeqAdjust, then Bytes. It
// allocates only while its buffers grow.
type Verdict struct {
	msg   []byte
	pre   []byte // requests sent ahead of the verdict, in the same write
	attrs ctnl.Encoder
	ct    ctnl.Encoder // NFQA_CT's CTA_* attributes
	exp   ctnl.Encoder
	queue uint16
	// seqAdjust: send NFQA_CT even when it carries nothing (SeqAdjust).
	seqAdjust bool
}

// Start begins the verdict for packet id of a queue.
func (v *Verdict) Start(queue uint16, id uint32, verdict uint32) {
	v.attrs.Reset()
	v.ct.Reset()
	v.exp.Reset()
	v.pre = v.pre[:0]
	v.queue = queue
	v.seqAdjust = false
	var h [8]byte
	binary.BigEndian.PutUint32(h[:], verdict)
	binary.BigEndian.PutUint32(h[4:], id)
	v.attrs.Put(attrVerdictHdr, h[:])
}

// HelpInfo sets the conntrack's helper private data (NFQA_CT carrying only
// CTA_HELP{NAME, INFO}). The kernel applies it only when helper names the
// helper already attached to the conntrack.
func (v *Verdict) HelpInfo(helper string, info []byte) {
	h := v.ct.Nest(ctnetlink.AttrHelp)
	v.ct.String(ctnetlink.AttrHelpName, helper)
	v.ct.Put(ctnetlink.AttrHelpInfo, info)
	v.ct.End(h)
}

// Timeout sets the conntrack's timeout, in seconds from now (NFQA_CT
// carrying CTA_TIMEOUT). Helpers stretch a master this way while they
// wait for its answers (dhcpv6, amanda); the conntrack's own protocol
// tracking sets it anew at its next packet.
func (v *Verdict) Timeout(seconds uint32) { v.ct.Uint32(ctnetlink.AttrTimeout, seconds) }

// Expect returns the encoder for the NFQA_EXP attributes (CTA_EXPECT_*,
// without the master, which is the packet's conntrack). The kernel reads
// NFQA_EXP only next to an NFQA_CT, so Bytes adds an empty one if needed.
func (v *Verdict) Expect() *ctnl.Encoder { return &v.exp }

// Request adds a netfilter request (say a ctnetlink IPCTNL_MSG_EXP_NEW)
// to be sent ahead of the verdict in the same datagram: nfnetlink runs the
// messages of a datagram in order, so it takes effect before the packet
// is released. The kernel answers it on the queue's socket (see
// ctnl.Conn.SetAckHandler): always when flags has NLM_F_ACK, else only if
// it fails.
func (v *Verdict) Request(subsys, typ uint8, family uint8, flags uint16, seq uint32, attrs []byte) {
	start := len(v.pre)
	v.pre = appendMsgHeader(v.pre, uint16(subsys)<<8|uint16(typ), unix.NLM_F_REQUEST|flags)
	binary.NativeEndian.PutUint32(v.pre[start+8:], seq)
	v.pre = appendNfgenmsg(v.pre, family, 0)
	v.pre = append(v.pre, attrs...)
	endMsg(v.pre, start)
}

// Payload replaces the packet (from the network header on); b is at
// most MaxPayload bytes.
func (v *Verdict) Payload(b []byte) { v.attrs.Put(attrPayload, b) }

// SeqAdjust makes the verdict carry NFQA_CT (empty if nothing else goes
// in it): the kernel shifts a NATed TCP connection's sequence numbers for
// a Payload of another length only when the verdict has NFQA_CT; without
// it the rest of the stream is out of step and stalls.
func (v *Verdict) SeqAdjust() { v.seqAdjust = true }

// Mark sets the packet mark.
func (v *Verdict) Mark(mark uint32) { v.attrs.Uint32(attrMark, mark) }

// Bytes is the finished netlink message, valid until the next Start.
func (v *Verdict) Bytes() []byte {
	if v.ct.Len() > 0 || v.exp.Len() > 0 || v.seqAdjust {
		v.attrs.Put(attrCT|0x8000, v.ct.Bytes()) // NLA_F_NESTED
		v.ct.Reset()
	}
	if v.exp.Len() > 0 {
		v.attrs.Put(attrExp|0x8000, v.exp.Bytes())
		v.exp.Reset()
	}
	b := append(v.msg[:0], v.pre...)
	start := len(b)
	b = appendMsgHeader(b, subsysQueue<<8|msgVerdict, unix.NLM_F_REQUEST)
	b = appendNfgenmsg(b, unix.AF_UNSPEC, v.queue)
	b = append(b, v.attrs.Bytes()...)
	endMsg(b, start)
	v.msg = b
	return b
}
