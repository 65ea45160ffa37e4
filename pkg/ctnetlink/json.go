package ctnetlink

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"unicode/utf8"

	"github.com/gonfct/gonfct/pkg/ctnl"
)

// The JSON forms of conntracks and expectations (docs/json.md) are written
// by hand with append functions, so that listing a large table neither
// allocates per entry nor goes through reflection, and read back with
// encoding/json into structs that refuse unknown fields. A tuple is the
// same object in both: this file is its one codec.

// AppendJSON appends t as a JSON object: the protocol's name under
// protoKey first (none when protoKey is ""), then "src" and "dst", the
// layer-4 fields of protocol p ("sport" and "dport" for ports and GRE keys;
// "type", "code" and "id" for ICMP), and "zone" when the tuple has one.
// p is t.Proto except for an expectation's mask, which is written with the
// expected tuple's protocol.
func (t *Tuple) AppendJSON(b []byte, p uint8, protoKey string) []byte {
	b = append(b, '{')
	if protoKey != "" {
		b = append(b, '"')
		b = append(b, protoKey...)
		b = append(b, `":"`...)
		b = append(b, ctnl.ProtoName(p)...)
		b = append(b, `",`...)
	}
	b = append(b, `"src":"`...)
	b = AppendAddr(b, t.Src)
	b = append(b, `","dst":"`...)
	b = AppendAddr(b, t.Dst)
	b = append(b, '"')
	switch l4 := Layer4Of(p); {
	case l4.PortAttrs():
		b = append(b, `,"sport":`...)
		b = strconv.AppendUint(b, uint64(t.SrcPort), 10)
		b = append(b, `,"dport":`...)
		b = strconv.AppendUint(b, uint64(t.DstPort), 10)
	case l4 == ICMPFields:
		b = append(b, `,"type":`...)
		b = strconv.AppendUint(b, uint64(t.ICMPType), 10)
		b = append(b, `,"code":`...)
		b = strconv.AppendUint(b, uint64(t.ICMPCode), 10)
		b = append(b, `,"id":`...)
		b = strconv.AppendUint(b, uint64(t.ICMPID), 10)
	}
	if t.HasZone {
		b = append(b, `,"zone":`...)
		b = strconv.AppendUint(b, uint64(t.Zone), 10)
	}
	return append(b, '}')
}

// AppendAddr appends an address as JSON and text print it; an unset one
// (a mask or NAT tuple without it) as 0.0.0.0, as conntrack does.
func AppendAddr(b []byte, a netip.Addr) []byte {
	if !a.IsValid() {
		return append(b, "0.0.0.0"...)
	}
	return a.AppendTo(b)
}

// TupleJSON is a tuple as AppendJSON writes it, for reading it back with
// encoding/json.
type TupleJSON struct {
	// Proto (expectations) or Protocol (a conntrack's master) names the
	// protocol when the object holding the tuple does not fix it.
	Proto    string  `json:"proto"`
	Protocol string  `json:"protocol"`
	Src      string  `json:"src"`
	Dst      string  `json:"dst"`
	Sport    *uint16 `json:"sport"`
	Dport    *uint16 `json:"dport"`
	Type     *uint8  `json:"type"`
	Code     *uint8  `json:"code"`
	ID       *uint16 `json:"id"`
	// ICMPID is read for files gonfct wrote before "id" was the one key
	// of the ICMP id (expectations used "icmp_id"); it is never written.
	ICMPID *uint16 `json:"icmp_id"`
	Zone   *uint16 `json:"zone"` // directional zone (CTA_TUPLE_ZONE)
}

// Tuple checks the object and returns the tuple. proto is the protocol to
// read it with unless the object names its own.
func (j *TupleJSON) Tuple(proto uint8) (Tuple, error) {
	t := Tuple{Proto: proto}
	name := j.Proto
	if name == "" {
		name = j.Protocol
	} else if j.Protocol != "" && j.Protocol != name {
		return t, fmt.Errorf("proto %q and protocol %q differ", j.Proto, j.Protocol)
	}
	if name != "" {
		p, err := ctnl.ParseProto(name)
		if err != nil {
			return t, err
		}
		t.Proto = p
	}
	var err error
	if t.Src, err = ParseAddr(j.Src); err != nil {
		return t, fmt.Errorf("src: %w", err)
	}
	if t.Dst, err = ParseAddr(j.Dst); err != nil {
		return t, fmt.Errorf("dst: %w", err)
	}
	if t.Src.Is4() != t.Dst.Is4() {
		return t, fmt.Errorf("src %s and dst %s mix IPv4 and IPv6", j.Src, j.Dst)
	}
	switch l4 := Layer4Of(t.Proto); {
	case l4 == ICMPFields:
		id := j.ID
		if id == nil {
			id = j.ICMPID
		} else if j.ICMPID != nil && *j.ICMPID != *id {
			return t, errors.New(`"id" and "icmp_id" differ`)
		}
		if j.Type == nil || j.Code == nil || id == nil {
			return t, fmt.Errorf("%s tuple needs type, code and id", ctnl.ProtoName(t.Proto))
		}
		t.ICMPType, t.ICMPCode, t.ICMPID = *j.Type, *j.Code, *id
	case l4.PortAttrs():
		if j.Sport == nil || j.Dport == nil {
			return t, fmt.Errorf("%s tuple needs sport and dport", ctnl.ProtoName(t.Proto))
		}
		t.SrcPort, t.DstPort = *j.Sport, *j.Dport
	}
	if j.Zone != nil {
		t.Zone, t.HasZone = *j.Zone, true
	}
	return t, nil
}

// AppendJSONString appends s as a JSON string, escaped as encoding/json
// escapes it (HTML characters too, invalid UTF-8 as U+FFFD): helper names
// and security contexts come from the kernel and may hold any byte.
func AppendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
