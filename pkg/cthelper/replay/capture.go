// Package replay runs packet captures through gonfct's protocol parsers
// the way `gonfct run` runs live packets: one emulated conntrack per flow
// with the helper's private data, TCP direction and sequence tracking, the
// same parsers and the same IP decoding as the engine. It backs
// `gonfct helper test --pcap` and the parsers' own capture tests; it needs
// no kernel and no privileges.
package replay

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"time"
)

// Link types (LINKTYPE_* of the pcap and pcapng formats) the reader
// understands.
const (
	LinkNull     = 0   // BSD loopback: 4-byte address family
	LinkEthernet = 1   // Ethernet II, with 802.1Q/802.1ad tags
	LinkRaw      = 101 // raw IPv4 or IPv6
	LinkLoop     = 108 // OpenBSD loopback: 4-byte big-endian family
	LinkSLL      = 113 // Linux cooked capture v1 (tcpdump -i any)
	LinkIPv4     = 228
	LinkIPv6     = 229
	LinkSLL2     = 276 // Linux cooked capture v2
)

// Frame is one captured packet: its 1-based number in the file (as
// Wireshark and `tcpdump -r -#` count) and the bytes from its IP header
// on. IP is nil for a frame that carries no IP packet (ARP, ...), with the
// reason in Skip.
type Frame struct {
	Number int
	// Time is when the packet was captured; zero for a pcapng simple
	// packet, which has no timestamp.
	Time time.Time
	IP   []byte
	Skip string
	// Truncated: the capture kept fewer bytes than the packet had (snap
	// length); the parsers see only what was kept.
	Truncated bool
}

// ErrFormat is wrapped by every error about a malformed capture file.
var ErrFormat = errors.New("malformed capture")

func formatErr(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrFormat}, args...)...)
}

// Parse reads a whole pcap or pcapng file. A file cut short ends with an
// error naming the packet it cut, after the frames read before it.
func Parse(b []byte) ([]Frame, error) {
	if len(b) < 4 {
		return nil, formatErr("%d bytes: not a pcap or pcapng file", len(b))
	}
	switch binary.LittleEndian.Uint32(b) {
	case 0xa1b2c3d4:
		return parsePcap(b, binary.LittleEndian, time.Microsecond)
	case 0xa1b23c4d: // nanosecond timestamps
		return parsePcap(b, binary.LittleEndian, time.Nanosecond)
	case 0xd4c3b2a1:
		return parsePcap(b, binary.BigEndian, time.Microsecond)
	case 0x4d3cb2a1:
		return parsePcap(b, binary.BigEndian, time.Nanosecond)
	case 0x0a0d0d0a:
		return parsePcapng(b)
	}
	return nil, formatErr("unknown magic number %#08x: not a pcap or pcapng file", binary.BigEndian.Uint32(b))
}

func parsePcap(b []byte, order binary.ByteOrder, frac time.Duration) ([]Frame, error) {
	if len(b) < 24 {
		return nil, formatErr("pcap file header truncated (%d of 24 bytes)", len(b))
	}
	link := order.Uint32(b[20:]) & 0x0fffffff // high bits: FCS length flags
	if err := checkLink(link); err != nil {
		return nil, err
	}
	var frames []Frame
	for off, n := 24, 1; off < len(b); n++ {
		if len(b)-off < 16 {
			return frames, formatErr("file truncated in the record header of packet %d", n)
		}
		incl, orig := int(order.Uint32(b[off+8:])), int(order.Uint32(b[off+12:]))
		off += 16
		if incl > len(b)-off {
			return frames, formatErr("file truncated in packet %d: its record has %d bytes, the file %d more", n, incl, len(b)-off)
		}
		f := linkFrame(n, link, b[off:off+incl], incl < orig)
		f.Time = time.Unix(int64(order.Uint32(b[off-16:])), int64(order.Uint32(b[off-12:]))*int64(frac)).UTC()
		frames = append(frames, f)
		off += incl
	}
	return frames, nil
}

func parsePcapng(b []byte) ([]Frame, error) {
	var (
		order  binary.ByteOrder = binary.LittleEndian
		links  []uint32         // per interface of the current section
		resols []byte           // if_tsresol per interface
		frames []Frame
		n      = 1
	)
	for off := 0; off < len(b); {
		if len(b)-off < 12 {
			return frames, formatErr("pcapng file truncated in a block header at byte %d (before packet %d)", off, n)
		}
		typ := order.Uint32(b[off:])
		if typ == 0x0a0d0d0a { // section header: sets the byte order
			switch binary.LittleEndian.Uint32(b[off+8:]) {
			case 0x1a2b3c4d:
				order = binary.LittleEndian
			case 0x4d3c2b1a:
				order = binary.BigEndian
			default:
				return frames, formatErr("pcapng section header at byte %d has a bad byte-order magic", off)
			}
			links, resols = links[:0], resols[:0]
		}
		size := int(order.Uint32(b[off+4:]))
		if size < 12 || size%4 != 0 {
			return frames, formatErr("pcapng block at byte %d has a bad length %d", off, size)
		}
		if size > len(b)-off {
			return frames, formatErr("pcapng file truncated in a block at byte %d (packet %d): it needs %d bytes, the file has %d", off, n, size, len(b)-off)
		}
		body := b[off+8 : off+size-4]
		off += size
		switch typ {
		case 1: // interface description
			if len(body) < 8 {
				return frames, formatErr("pcapng interface description block too short")
			}
			link := uint32(order.Uint16(body))
			if err := checkLink(link); err != nil {
				return frames, err
			}
			links = append(links, link)
			resols = append(resols, tsResol(body[8:], order))
		case 6: // enhanced packet
			if len(body) < 20 {
				return frames, formatErr("pcapng packet %d: block too short", n)
			}
			ifc, incl, orig := order.Uint32(body), int(order.Uint32(body[12:])), int(order.Uint32(body[16:]))
			if int(ifc) >= len(links) {
				return frames, formatErr("pcapng packet %d names interface %d, which the file does not describe", n, ifc)
			}
			if incl > len(body)-20 {
				return frames, formatErr("pcapng packet %d: %d captured bytes in a %d-byte block", n, incl, len(body)-20)
			}
			f := linkFrame(n, links[ifc], body[20:20+incl], incl < orig)
			f.Time = pcapngTime(order, body[4:], resols[ifc])
			frames = append(frames, f)
			n++
		case 3: // simple packet: interface 0, the rest of the block
			if len(body) < 4 || len(links) == 0 {
				return frames, formatErr("pcapng simple packet %d without an interface", n)
			}
			orig := int(order.Uint32(body))
			data := body[4:]
			if orig < len(data) {
				data = data[:orig]
			}
			frames = append(frames, linkFrame(n, links[0], data, len(data) < orig))
			n++
		case 2: // obsolete packet block
			if len(body) < 20 {
				return frames, formatErr("pcapng packet %d: block too short", n)
			}
			ifc, incl, orig := int(order.Uint16(body)), int(order.Uint32(body[12:])), int(order.Uint32(body[16:]))
			if ifc >= len(links) || incl > len(body)-20 {
				return frames, formatErr("pcapng packet %d: bad interface or length", n)
			}
			f := linkFrame(n, links[ifc], body[20:20+incl], incl < orig)
			f.Time = pcapngTime(order, body[4:], resols[ifc])
			frames = append(frames, f)
			n++
		}
	}
	return frames, nil
}

// tsResol finds the if_tsresol option among an interface description's
// options: the unit of its packets' timestamps, 6 (microseconds) unless
// it says otherwise.
func tsResol(opts []byte, order binary.ByteOrder) byte {
	for len(opts) >= 4 {
		code, n := order.Uint16(opts), int(order.Uint16(opts[2:]))
		if code == 0 || n > len(opts)-4 {
			break
		}
		if code == 9 && n >= 1 {
			return opts[4]
		}
		opts = opts[min(len(opts), 4+(n+3)&^3):]
	}
	return 6
}

// pcapngTime decodes a pcapng timestamp (high word, low word) counted in
// units of resol: 10^-resol seconds, or 2^-(resol&0x7f) with the top bit
// set.
func pcapngTime(order binary.ByteOrder, b []byte, resol byte) time.Time {
	ts := uint64(order.Uint32(b))<<32 | uint64(order.Uint32(b[4:]))
	var sec, nsec uint64
	if resol&0x80 != 0 {
		k := uint(resol & 0x7f)
		if k == 0 || k >= 64 {
			return time.Unix(int64(ts), 0).UTC()
		}
		sec = ts >> k
		hi, lo := bits.Mul64(ts&(1<<k-1), 1e9)
		nsec = hi<<(64-k) | lo>>k
	} else {
		unit := uint64(1)
		for range min(resol, 19) {
			unit *= 10
		}
		sec, nsec = ts/unit, ts%unit
		if unit > 1e9 {
			nsec /= unit / 1e9
		} else {
			nsec *= 1e9 / unit
		}
	}
	return time.Unix(int64(sec), int64(nsec)).UTC()
}

func checkLink(link uint32) error {
	switch link {
	case LinkNull, LinkEthernet, LinkRaw, LinkLoop, LinkSLL, LinkIPv4, LinkIPv6, LinkSLL2, 12, 14:
		return nil
	}
	return fmt.Errorf("link type %d is not supported: capture on an Ethernet, loopback or \"any\" interface (Ethernet, Linux cooked and raw IP are read)", link)
}

// linkFrame strips the link-layer header.
func linkFrame(n int, link uint32, b []byte, truncated bool) Frame {
	f := Frame{Number: n, Truncated: truncated}
	ipOrSkip := func(ethertype uint16, rest []byte) {
		switch ethertype {
		case 0x0800, 0x86dd:
			f.IP = rest
		default:
			f.Skip = fmt.Sprintf("not IP (ethertype %#04x)", ethertype)
		}
	}
	switch link {
	case LinkEthernet:
		if len(b) < 14 {
			f.Skip = "truncated Ethernet header"
			return f
		}
		et, off := binary.BigEndian.Uint16(b[12:]), 14
		for (et == 0x8100 || et == 0x88a8) && len(b) >= off+4 { // VLAN tags
			et, off = binary.BigEndian.Uint16(b[off+2:]), off+4
		}
		ipOrSkip(et, b[off:])
	case LinkSLL:
		if len(b) < 16 {
			f.Skip = "truncated Linux cooked header"
			return f
		}
		ipOrSkip(binary.BigEndian.Uint16(b[14:]), b[16:])
	case LinkSLL2:
		if len(b) < 20 {
			f.Skip = "truncated Linux cooked v2 header"
			return f
		}
		ipOrSkip(binary.BigEndian.Uint16(b), b[20:])
	case LinkRaw, LinkIPv4, LinkIPv6, 12, 14: // 12 and 14: raw IP on some BSDs
		f.IP = b
	case LinkNull, LinkLoop:
		if len(b) < 4 {
			f.Skip = "truncated loopback header"
			return f
		}
		f.IP = b[4:] // the family word's byte order varies; the IP version says it all
	}
	return f
}
