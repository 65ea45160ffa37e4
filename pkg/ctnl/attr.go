package ctnl

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Netlink attribute header flags (uapi/linux/netlink.h).
const (
	attrNested    = 0x8000 // NLA_F_NESTED
	attrByteOrder = 0x4000 // NLA_F_NET_BYTEORDER
	attrTypeMask  = ^uint16(attrNested | attrByteOrder)
	attrHdrLen    = 4
)

func align4(n int) int { return (n + 3) &^ 3 }

// Encoder appends netlink attributes to a byte slice. Numbers are written
// big-endian, as every netfilter subsystem expects. The zero value is ready;
// Reset keeps the buffer so a long-lived encoder does not allocate.
type Encoder struct {
	b []byte
}

// NewEncoder returns an encoder that appends to buf[:0].
func NewEncoder(buf []byte) *Encoder { return &Encoder{b: buf[:0]} }

// Reset empties the encoder, keeping its buffer.
func (e *Encoder) Reset() { e.b = e.b[:0] }

// Bytes returns the encoded attributes; the slice is the encoder's buffer.
func (e *Encoder) Bytes() []byte { return e.b }

// Len is the number of bytes encoded so far.
func (e *Encoder) Len() int { return len(e.b) }

func (e *Encoder) header(typ uint16, n int) {
	e.b = binary.NativeEndian.AppendUint16(e.b, uint16(attrHdrLen+n))
	e.b = binary.NativeEndian.AppendUint16(e.b, typ)
}

func (e *Encoder) pad() {
	for len(e.b)%4 != 0 {
		e.b = append(e.b, 0)
	}
}

// Put appends an attribute with raw data.
func (e *Encoder) Put(typ uint16, data []byte) {
	e.header(typ, len(data))
	e.b = append(e.b, data...)
	e.pad()
}

// Uint8 appends a one-byte attribute.
func (e *Encoder) Uint8(typ uint16, v uint8) {
	e.header(typ, 1)
	e.b = append(e.b, v)
	e.pad()
}

// Uint16 appends a big-endian 16-bit attribute.
func (e *Encoder) Uint16(typ uint16, v uint16) {
	e.header(typ, 2)
	e.b = binary.BigEndian.AppendUint16(e.b, v)
	e.pad()
}

// Uint32 appends a big-endian 32-bit attribute.
func (e *Encoder) Uint32(typ uint16, v uint32) {
	e.header(typ, 4)
	e.b = binary.BigEndian.AppendUint32(e.b, v)
}

// Uint64 appends a big-endian 64-bit attribute.
func (e *Encoder) Uint64(typ uint16, v uint64) {
	e.header(typ, 8)
	e.b = binary.BigEndian.AppendUint64(e.b, v)
}

// String appends a NUL-terminated string: the kernel's NLA_NUL_STRING
// policies (helper names, policy names, timeout names) answer EINVAL
// without the NUL.
func (e *Encoder) String(typ uint16, s string) {
	e.header(typ, len(s)+1)
	e.b = append(e.b, s...)
	e.b = append(e.b, 0)
	e.pad()
}

// Nest opens a nested attribute and returns its position for End.
func (e *Encoder) Nest(typ uint16) int {
	pos := len(e.b)
	e.header(typ|attrNested, 0)
	return pos
}

// End closes the nested attribute opened at pos.
func (e *Encoder) End(pos int) {
	binary.NativeEndian.PutUint16(e.b[pos:], uint16(len(e.b)-pos))
}

// ErrShortAttribute reports a truncated or malformed attribute stream.
var ErrShortAttribute = errors.New("malformed netlink attribute")

// Scanner walks the attributes of one level without allocating:
//
//	s := ctnl.NewScanner(b)
//	for s.Next() {
//		switch s.Type() { ... }
//	}
//	if err := s.Err(); err != nil { ... }
type Scanner struct {
	b    []byte
	typ  uint16
	data []byte
	err  error
}

// NewScanner returns a scanner over the attributes in b.
func NewScanner(b []byte) Scanner { return Scanner{b: b} }

// Next advances to the next attribute; false at the end or on error.
func (s *Scanner) Next() bool {
	if s.err != nil || len(s.b) == 0 {
		return false
	}
	if len(s.b) < attrHdrLen {
		s.err = ErrShortAttribute
		return false
	}
	n := int(binary.NativeEndian.Uint16(s.b))
	if n < attrHdrLen || n > len(s.b) {
		s.err = ErrShortAttribute
		return false
	}
	s.typ = binary.NativeEndian.Uint16(s.b[2:]) & attrTypeMask
	s.data = s.b[attrHdrLen:n]
	if a := align4(n); a < len(s.b) {
		s.b = s.b[a:]
	} else {
		s.b = nil
	}
	return true
}

// Type is the attribute type without the nested/byte-order flags.
func (s *Scanner) Type() uint16 { return s.typ }

// Data is the attribute payload, a slice of the scanned buffer.
func (s *Scanner) Data() []byte { return s.data }

// Nested returns a scanner over the current attribute's payload.
func (s *Scanner) Nested() Scanner { return Scanner{b: s.data} }

// Err is the first malformation met, if any.
func (s *Scanner) Err() error { return s.err }

func (s *Scanner) short(want int) bool {
	if len(s.data) < want {
		s.err = fmt.Errorf("%w: attribute %d has %d bytes, want %d", ErrShortAttribute, s.typ, len(s.data), want)
		return true
	}
	return false
}

// Uint8 reads the payload as one byte.
func (s *Scanner) Uint8() uint8 {
	if s.short(1) {
		return 0
	}
	return s.data[0]
}

// Uint16 reads the payload as a big-endian 16-bit number.
func (s *Scanner) Uint16() uint16 {
	if s.short(2) {
		return 0
	}
	return binary.BigEndian.Uint16(s.data)
}

// Uint32 reads the payload as a big-endian 32-bit number.
func (s *Scanner) Uint32() uint32 {
	if s.short(4) {
		return 0
	}
	return binary.BigEndian.Uint32(s.data)
}

// Uint64 reads the payload as a big-endian 64-bit number.
func (s *Scanner) Uint64() uint64 {
	if s.short(8) {
		return 0
	}
	return binary.BigEndian.Uint64(s.data)
}

// String reads a NUL-terminated (or unterminated) string payload.
func (s *Scanner) String() string { return CString(s.data) }

// CString converts a possibly NUL-terminated byte slice to a string.
func CString(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}
