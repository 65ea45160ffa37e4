package engine

import (
	"encoding/binary"
	"errors"
	"net/netip"

	"github.com/gonfct/gonfct/pkg/cthelper"
	"github.com/gonfct/gonfct/pkg/nfq"
	"golang.org/x/sys/unix"
)

// Why a packet could not be handed to a parser. Each is counted; the packet
// is accepted un-helped.
var (
	errShortIP       = errors.New("truncated IP header")
	errIPVersion     = errors.New("not an IPv4 or IPv6 packet")
	errFragment      = errors.New("IP fragment")
	errShortL4       = errors.New("truncated TCP or UDP header")
	errNotTCPUDP     = errors.New("not TCP or UDP")
	errExtHeaders    = errors.New("IPv6 extension header chain too long or truncated")
	errRewriteBounds = errors.New("payload rewrite out of bounds")
	errRewriteSize   = errors.New("rewritten packet larger than the 65531 bytes a verdict carries")
)

// l4Offsets locates a packet's parts: where the transport header and the
// transport payload start.
type l4Offsets struct {
	l4, payload int
}

// decodeIP fills the packet's own fields (family, protocol, addresses,
// ports, TCP sequence, payload) from raw bytes starting at the IP header,
// walking IPv6 extension headers. It does not allocate.
func decodeIP(b []byte, p *cthelper.Packet) (l4Offsets, error) {
	var off l4Offsets
	if len(b) < 1 {
		return off, errShortIP
	}
	var (
		proto uint8
		l4    int
		end   = len(b)
	)
	switch b[0] >> 4 {
	case 4:
		if len(b) < 20 {
			return off, errShortIP
		}
		ihl := int(b[0]&0x0f) * 4
		tot := int(binary.BigEndian.Uint16(b[2:]))
		if ihl < 20 || len(b) < ihl || tot < ihl {
			return off, errShortIP
		}
		if tot < end {
			end = tot // ignore link-layer padding
		}
		if binary.BigEndian.Uint16(b[6:])&0x3fff != 0 { // MF or fragment offset
			return off, errFragment
		}
		p.Family = unix.AF_INET
		p.Src = netip.AddrFrom4([4]byte(b[12:16]))
		p.Dst = netip.AddrFrom4([4]byte(b[16:20]))
		proto, l4 = b[9], ihl
	case 6:
		if len(b) < 40 {
			return off, errShortIP
		}
		if pl := 40 + int(binary.BigEndian.Uint16(b[4:])); pl < end {
			end = pl
		}
		p.Family = unix.AF_INET6
		p.Src = netip.AddrFrom16([16]byte(b[8:24]))
		p.Dst = netip.AddrFrom16([16]byte(b[24:40]))
		var err error
		if proto, l4, err = skipExtHeaders(b[:end], b[6], 40); err != nil {
			return off, err
		}
	default:
		return off, errIPVersion
	}
	p.Proto = proto
	switch proto {
	case unix.IPPROTO_TCP:
		if end-l4 < 20 {
			return off, errShortL4
		}
		doff := int(b[l4+12]>>4) * 4
		if doff < 20 || end-l4 < doff {
			return off, errShortL4
		}
		p.SrcPort = binary.BigEndian.Uint16(b[l4:])
		p.DstPort = binary.BigEndian.Uint16(b[l4+2:])
		p.Seq = binary.BigEndian.Uint32(b[l4+4:])
		off = l4Offsets{l4: l4, payload: l4 + doff}
	case unix.IPPROTO_UDP:
		if end-l4 < 8 {
			return off, errShortL4
		}
		p.SrcPort = binary.BigEndian.Uint16(b[l4:])
		p.DstPort = binary.BigEndian.Uint16(b[l4+2:])
		p.Seq = 0
		off = l4Offsets{l4: l4, payload: l4 + 8}
	default:
		return off, errNotTCPUDP
	}
	p.Payload = b[off.payload:end]
	return off, nil
}

// maxExtHeaders bounds the walk over an IPv6 extension header chain.
const maxExtHeaders = 8

// skipExtHeaders walks IPv6 extension headers from offset off, where next
// is the first next-header value; it returns the transport protocol and
// its offset.
func skipExtHeaders(b []byte, next uint8, off int) (uint8, int, error) {
	for range maxExtHeaders + 1 { // the extension headers, then the transport's
		switch next {
		case unix.IPPROTO_HOPOPTS, unix.IPPROTO_ROUTING, unix.IPPROTO_DSTOPTS:
			if len(b)-off < 8 {
				return 0, 0, errExtHeaders
			}
			next, off = b[off], off+(int(b[off+1])+1)*8
		case unix.IPPROTO_FRAGMENT:
			if len(b)-off < 8 {
				return 0, 0, errExtHeaders
			}
			if binary.BigEndian.Uint16(b[off+2:])&0xfff9 != 0 { // offset or M flag
				return 0, 0, errFragment
			}
			next, off = b[off], off+8
		case unix.IPPROTO_AH:
			if len(b)-off < 8 {
				return 0, 0, errExtHeaders
			}
			next, off = b[off], off+(int(b[off+1])+2)*4
		default:
			if off > len(b) {
				return 0, 0, errExtHeaders
			}
			return next, off, nil
		}
	}
	return 0, 0, errExtHeaders
}

// rewrite builds in dst the packet b with the payload rewrites applied,
// fixing the IP length and the TCP or UDP checksum (and the IPv4 header
// checksum). Offsets in the rewrites are relative to the transport
// payload and refer to the original payload; they must not overlap and
// must be in increasing order.
//
// An IPv6 TCP packet whose length changes gets the offset of its TCP
// header, in 4-byte units, in the top half of its traffic class (the low
// nibble of its first byte): Linux records where the stream's sequence
// numbers shift (nf_ct_tcp_seqadj_set, reached from a verdict's payload)
// at the TCP header it finds after the IPv4 header length, read from that
// nibble, for IPv6 packets too (6.1, and the current sources alike). With
// the nibble at 0 it takes bytes of the IPv6 header for the sequence
// number, and the connection breaks after the rewrite. The cost: this one
// packet's DSCP changes (to 40-43 without extension headers).
func rewrite(dst, b []byte, off l4Offsets, payloadEnd int, proto uint8, ws []cthelper.Rewrite) ([]byte, error) {
	dst = append(dst[:0], b[:off.payload]...)
	pl := b[off.payload:payloadEnd]
	pos := 0
	for _, w := range ws {
		if w.Off < pos || w.Len < 0 || w.Off+w.Len > len(pl) {
			return nil, errRewriteBounds
		}
		dst = append(dst, pl[pos:w.Off]...)
		dst = append(dst, w.Data...)
		pos = w.Off + w.Len
	}
	dst = append(dst, pl[pos:]...)
	if len(dst) > nfq.MaxPayload {
		return nil, errRewriteSize
	}
	if dst[0]>>4 == 4 {
		binary.BigEndian.PutUint16(dst[2:], uint16(len(dst)))
		binary.BigEndian.PutUint16(dst[10:], 0)
		binary.BigEndian.PutUint16(dst[10:], ^fold(sum(dst[:off.l4], 0)))
	} else {
		binary.BigEndian.PutUint16(dst[4:], uint16(len(dst)-40))
		if proto == unix.IPPROTO_TCP && len(dst) != payloadEnd && off.l4 <= 60 {
			dst[0] = 0x60 | byte(off.l4/4)
		}
	}
	l4 := dst[off.l4:]
	ck := 16 // TCP checksum offset
	if proto == unix.IPPROTO_UDP {
		ck = 6
		binary.BigEndian.PutUint16(l4[4:], uint16(len(l4)))
	}
	binary.BigEndian.PutUint16(l4[ck:], 0)
	c := ^fold(sum(l4, pseudoHeader(dst, proto, len(l4))))
	if c == 0 && proto == unix.IPPROTO_UDP {
		c = 0xffff
	}
	binary.BigEndian.PutUint16(l4[ck:], c)
	return dst, nil
}

// pseudoHeader is the unfolded sum of the TCP/UDP pseudo-header.
func pseudoHeader(ip []byte, proto uint8, l4len int) uint32 {
	var s uint32
	if ip[0]>>4 == 4 {
		s = sum(ip[12:20], 0)
	} else {
		s = sum(ip[8:40], 0)
	}
	return s + uint32(proto) + uint32(l4len)
}

// sum adds b as big-endian 16-bit words to s (RFC 1071).
func sum(b []byte, s uint32) uint32 {
	for len(b) >= 2 {
		s += uint32(b[0])<<8 | uint32(b[1])
		b = b[2:]
	}
	if len(b) == 1 {
		s += uint32(b[0]) << 8
	}
	return s
}

func fold(s uint32) uint16 {
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return uint16(s)
}
