package ftp

import "encoding/binary"

// PrivLen is the size of the per-connection private data (CTA_HELP_INFO).
const PrivLen = 24

// seqsToRemember is how many line starts are kept per direction: two, so
// that a retransmission of the previous segment is still recognised.
const seqsToRemember = 2

// state is the private data, laid out as the kernel's struct
// nf_ct_ftp_master and conntrack-tools' ftp helper keep it, in host byte
// order:
//
//	u32 seq_aft_nl[2 dirs][2]  bytes 0-15: sequence numbers just after a '\n'
//	u16 seq_aft_nl_num[2 dirs] bytes 16-19: how many of them are set
//	u16 flags[2 dirs]          bytes 20-23: bit 0 is the kernel's pick-up flag
type state struct {
	seq   [2][seqsToRemember]uint32
	num   [2]uint16
	flags [2]uint16
}

var host = binary.NativeEndian

// seqPickUp is the kernel's flag for a conntrack created from user space
// (NF_CT_FTP_SEQ_PICKUP): take the next segment in that direction as a
// line start, once.
const seqPickUp = 1

// pickUp reports whether the next segment in direction dir is taken as a
// line start although its sequence number is not known to follow a
// newline: when no line start is known in that direction at all (private
// data zeroed: a conntrack committed by conntrackd or made by `conntrack
// -I` on a firewall that never saw its start), or when the pick-up flag is
// set.
func (s *state) pickUp(dir uint8) bool {
	return s.num[dir] == 0 || s.flags[dir]&seqPickUp != 0
}

func loadState(b []byte) (state, bool) {
	var s state
	if len(b) < PrivLen {
		return s, false
	}
	for d := 0; d < 2; d++ {
		for i := 0; i < seqsToRemember; i++ {
			s.seq[d][i] = host.Uint32(b[(d*seqsToRemember+i)*4:])
		}
		s.num[d] = min(host.Uint16(b[16+2*d:]), seqsToRemember)
		s.flags[d] = host.Uint16(b[20+2*d:])
	}
	return s, true
}

func (s *state) store(b []byte) {
	for d := 0; d < 2; d++ {
		for i := 0; i < seqsToRemember; i++ {
			host.PutUint32(b[(d*seqsToRemember+i)*4:], s.seq[d][i])
		}
		host.PutUint16(b[16+2*d:], s.num[d])
		host.PutUint16(b[20+2*d:], s.flags[d])
	}
}

// atLineStart reports whether seq is known to follow a newline.
func (s *state) atLineStart(dir uint8, seq uint32) bool {
	for i := 0; i < int(s.num[dir]); i++ {
		if s.seq[dir][i] == seq {
			return true
		}
	}
	return false
}

// recordLineStart remembers seq as following a newline, replacing the
// older of two, and reports whether anything changed. A sequence number
// older than both (a retransmission) is not recorded.
func (s *state) recordLineStart(dir uint8, seq uint32) bool {
	if s.atLineStart(dir, seq) {
		return false
	}
	if s.num[dir] < seqsToRemember {
		s.seq[dir][s.num[dir]] = seq
		s.num[dir]++
		return true
	}
	oldest := 1
	if before(s.seq[dir][0], s.seq[dir][1]) {
		oldest = 0
	}
	if !after(seq, s.seq[dir][oldest]) {
		return false
	}
	s.seq[dir][oldest] = seq
	return true
}

// TCP sequence comparison modulo 2^32.
func before(a, b uint32) bool { return int32(a-b) < 0 }
func after(a, b uint32) bool  { return int32(b-a) < 0 }
