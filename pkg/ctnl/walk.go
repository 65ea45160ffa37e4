package ctnl

import (
	"encoding/binary"
	"errors"
	"fmt"
	"syscall"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// Netlink header flags this package reads in answers (uapi/linux/netlink.h).
const (
	flagDumpIntr = 0x10  // NLM_F_DUMP_INTR: the table changed while dumped
	flagCapped   = 0x100 // NLM_F_CAPPED: an error echoes only the request's header
	flagAckTLVs  = 0x200 // NLM_F_ACK_TLVS: extended-ack attributes follow
	extAckMsg    = 1     // NLMSGERR_ATTR_MSG: the kernel's reason text
)

// Walker reads the netlink messages of one datagram in order, without
// allocating: every answer, event and NFQUEUE packet this package hands
// out went through it, whether the datagram came from the kernel or from
// a test's fake socket.
//
//	w := ctnl.Walk(datagram)
//	for w.Next() { use(w.Header(), w.Data()) }
//	if err := w.Err(); err != nil { ... }
type Walker struct {
	b    []byte
	h    netlink.Header
	data []byte
	err  error
}

// Walk starts a walk over the messages of datagram b.
func Walk(b []byte) Walker { return Walker{b: b} }

// Next moves to the next message. It returns false at the end of the
// datagram or at a malformed message (Err then says which).
func (w *Walker) Next() bool {
	if w.err != nil || len(w.b) == 0 {
		return false
	}
	if len(w.b) < unix.NLMSG_HDRLEN {
		w.err = fmt.Errorf("malformed netlink datagram: %d bytes after the last message, less than a header", len(w.b))
		return false
	}
	l := int(binary.NativeEndian.Uint32(w.b))
	if l < unix.NLMSG_HDRLEN || l > len(w.b) {
		w.err = fmt.Errorf("malformed netlink message: length %d, %d bytes left in the datagram", l, len(w.b))
		return false
	}
	w.h = netlink.Header{
		Length:   uint32(l),
		Type:     netlink.HeaderType(binary.NativeEndian.Uint16(w.b[4:])),
		Flags:    netlink.HeaderFlags(binary.NativeEndian.Uint16(w.b[6:])),
		Sequence: binary.NativeEndian.Uint32(w.b[8:]),
		PID:      binary.NativeEndian.Uint32(w.b[12:]),
	}
	w.data = w.b[unix.NLMSG_HDRLEN:l:l]
	// The kernel pads each message to 4 bytes but may leave the padding
	// of the last one out of the datagram.
	if a := align4(l); a < len(w.b) {
		w.b = w.b[a:]
	} else {
		w.b = nil
	}
	return true
}

// Header is the current message's header.
func (w *Walker) Header() netlink.Header { return w.h }

// Data is the current message's payload; it aliases the datagram.
func (w *Walker) Data() []byte { return w.data }

// Err is the reason the walk stopped early, or nil.
func (w *Walker) Err() error { return w.err }

// AppendMessage appends one netlink message (header h, with its length
// set from data, then data, padded to 4 bytes) to b: the inverse of Walk.
func AppendMessage(b []byte, h netlink.Header, data []byte) []byte {
	b = appendHeader(b, h, len(data))
	b = append(b, data...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

func appendHeader(b []byte, h netlink.Header, dataLen int) []byte {
	b = binary.NativeEndian.AppendUint32(b, uint32(unix.NLMSG_HDRLEN+dataLen))
	b = binary.NativeEndian.AppendUint16(b, uint16(h.Type))
	b = binary.NativeEndian.AppendUint16(b, uint16(h.Flags))
	b = binary.NativeEndian.AppendUint32(b, h.Sequence)
	return binary.NativeEndian.AppendUint32(b, h.PID)
}

// errAnswer is an NLMSG_ERROR message taken apart: the errno (0 for an
// acknowledgement), the type and sequence of the message it answers, and
// the kernel's extended-ack text.
type errAnswer struct {
	errno   syscall.Errno
	typ     uint16
	seq     uint32
	text    string
	hasOrig bool // the answered message's header was there
}

var errShortError = errors.New("malformed netlink error message: shorter than its errno")

// parseError reads the payload of an NLMSG_ERROR message with header h.
func parseError(h netlink.Header, data []byte) (errAnswer, error) {
	if len(data) < 4 {
		return errAnswer{}, errShortError
	}
	a := errAnswer{errno: errnoAt(data)}
	if len(data) < 4+unix.NLMSG_HDRLEN {
		return a, nil
	}
	a.hasOrig = true
	a.typ = binary.NativeEndian.Uint16(data[8:])
	a.seq = binary.NativeEndian.Uint32(data[12:])
	if h.Flags&flagAckTLVs != 0 {
		// Without NLM_F_CAPPED the whole request is echoed before the
		// attributes; its length is in its header.
		off := 4 + unix.NLMSG_HDRLEN
		if h.Flags&flagCapped == 0 {
			off = 4 + align4(int(binary.NativeEndian.Uint32(data[4:])))
		}
		if off >= 4+unix.NLMSG_HDRLEN && off <= len(data) {
			a.text = extAckText(data[off:])
		}
	}
	return a, nil
}

// parseDone reads the payload of an NLMSG_DONE message: a dump that
// failed midway ends with a negative errno there, and extended-ack
// attributes may follow it.
func parseDone(h netlink.Header, data []byte) (syscall.Errno, string) {
	if len(data) < 4 {
		return 0, ""
	}
	errno := errnoAt(data)
	if h.Flags&flagAckTLVs == 0 {
		return errno, ""
	}
	return errno, extAckText(data[4:])
}

// errnoAt reads the negated errno the kernel puts first in ERROR and DONE.
func errnoAt(data []byte) syscall.Errno {
	return syscall.Errno(uint32(-int32(binary.NativeEndian.Uint32(data))))
}

func extAckText(attrs []byte) string {
	s := NewScanner(attrs)
	for s.Next() {
		if s.Type() == extAckMsg {
			return s.String()
		}
	}
	return ""
}
