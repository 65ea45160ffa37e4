package pattern

import (
	"bytes"
	"encoding/binary"

	"golang.org/x/sys/unix"
)

// PrivLen is the private data a pattern helper over TCP keeps per
// connection: where lines start in each direction of the stream.
const PrivLen = 20

// PrivLenFor is the private data a helper of rules over proto needs:
// PrivLen over TCP when a rule reads lines, else none.
func PrivLenFor(proto uint8, rules []Rule) uint32 {
	for _, r := range rules {
		if !r.Whole && proto == unix.IPPROTO_TCP {
			return PrivLen
		}
	}
	return 0
}

// lineState is the private data: per direction, two sequence numbers known
// to start a line (the newest two, so that a retransmission of the last
// segment is still read as it was the first time), how many are set, and
// whether any data was seen (the first byte of a stream starts a line):
//
//	u32 seq[2 dirs][2]  bytes 0-15
//	u8  num[2 dirs]     bytes 16-17
//	u8  seen[2 dirs]    bytes 18-19
type lineState struct {
	seq  [2][2]uint32
	num  [2]uint8
	seen [2]uint8
}

var host = binary.NativeEndian

func loadLines(b []byte) (lineState, bool) {
	var s lineState
	if len(b) < PrivLen {
		return s, false
	}
	for d := 0; d < 2; d++ {
		s.seq[d][0] = host.Uint32(b[8*d:])
		s.seq[d][1] = host.Uint32(b[8*d+4:])
		s.num[d] = min(b[16+d], 2)
		s.seen[d] = b[18+d]
	}
	return s, true
}

func (s *lineState) store(b []byte) {
	for d := 0; d < 2; d++ {
		host.PutUint32(b[8*d:], s.seq[d][0])
		host.PutUint32(b[8*d+4:], s.seq[d][1])
		b[16+d] = s.num[d]
		b[18+d] = s.seen[d]
	}
}

// atLineStart reports whether a segment at seq starts a line: the
// direction's first data does, and so does data right after a newline.
func (s *lineState) atLineStart(dir uint8, seq uint32) bool {
	if s.seen[dir] == 0 {
		return true
	}
	for i := uint8(0); i < s.num[dir]; i++ {
		if s.seq[dir][i] == seq {
			return true
		}
	}
	return false
}

// update records what the segment at seq with data teaches about line
// starts, and reports whether the state changed.
func (s *lineState) update(dir uint8, seq uint32, data []byte) bool {
	changed := false
	if s.seen[dir] == 0 {
		s.seen[dir] = 1
		s.record(dir, seq)
		changed = true
	}
	if bytes.HasSuffix(data, newline) && s.record(dir, seq+uint32(len(data))) {
		changed = true
	}
	return changed
}

var newline = []byte{'\n'}

// record remembers seq as a line start in place of the older of two; a
// sequence number before both (a retransmission) is not recorded.
func (s *lineState) record(dir uint8, seq uint32) bool {
	n := s.num[dir]
	for i := uint8(0); i < n; i++ {
		if s.seq[dir][i] == seq {
			return false
		}
	}
	if n < 2 {
		s.seq[dir][n] = seq
		s.num[dir]++
		return true
	}
	older := 0
	if int32(s.seq[dir][1]-s.seq[dir][0]) < 0 {
		older = 1
	}
	if int32(seq-s.seq[dir][older]) <= 0 {
		return false
	}
	s.seq[dir][older] = seq
	return true
}
