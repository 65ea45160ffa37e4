// Package ctnltest is an in-memory netlink socket for tests of code that
// talks through a ctnl.Conn. It speaks netlink bytes: a handler receives
// each datagram the Conn sends and returns the datagrams the kernel would
// answer, so the Conn under test runs the same message walk, sequence
// matching and error decoding as it does on a kernel socket. Helpers build
// the usual answers (data messages, acknowledgements, errors, DONE).
package ctnltest

import (
	"encoding/binary"
	"errors"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/gonfct/gonfct/pkg/ctnl"
	"github.com/mdlayher/netlink"
)

// Handler answers one datagram sent to the fake kernel (a request from
// Query or Do, or a batch from Write) with the datagrams the kernel would
// send back, in order. req is the handler's own copy. An error fails the
// send with it.
type Handler func(req []byte) ([][]byte, error)

// Socket is an in-memory ctnl.Socket. Its zero value is not usable; make
// one with NewSocket.
type Socket struct {
	h Handler

	mu       sync.Mutex
	queue    []datagram
	wake     chan struct{} // signalled when queue, deadline or closed change
	deadline time.Time
	closed   bool
	groups   []uint32
	drops    uint32
}

// datagram is one queued read: bytes, or an error in their place.
type datagram struct {
	b   []byte
	err error
}

var errClosed = errors.New("use of closed fake netlink socket")

// NewSocket makes a fake socket whose sends h answers; nil h answers
// nothing.
func NewSocket(h Handler) *Socket {
	return &Socket{h: h, wake: make(chan struct{}, 1)}
}

// Dial makes a ctnl.Conn over a fake socket answered by h.
func Dial(h Handler) *ctnl.Conn { return ctnl.New(NewSocket(h)) }

// Send gives the datagram to the handler and queues its answers.
func (s *Socket) Send(b []byte) error {
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return errClosed
	}
	if s.h == nil {
		return nil
	}
	answers, err := s.h(append([]byte(nil), b...))
	if err != nil {
		return err
	}
	s.Inject(answers...)
	return nil
}

// Inject queues datagrams for reading as if the kernel sent them
// unasked: events, NFQUEUE packets.
func (s *Socket) Inject(datagrams ...[]byte) {
	s.mu.Lock()
	for _, b := range datagrams {
		s.queue = append(s.queue, datagram{b: b})
	}
	s.mu.Unlock()
	s.signal()
}

// Overflow queues the error a kernel socket reports once its receive
// buffer overflowed (ENOBUFS) and counts n dropped messages.
func (s *Socket) Overflow(n uint32) {
	s.mu.Lock()
	s.queue = append(s.queue, datagram{err: syscall.ENOBUFS})
	s.drops += n
	s.mu.Unlock()
	s.signal()
}

func (s *Socket) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Recv hands out the next queued datagram, cut to len(b) as a kernel
// socket would, with its whole length.
func (s *Socket) Recv(b []byte) (int, error) {
	for {
		s.mu.Lock()
		switch {
		case s.closed:
			s.mu.Unlock()
			return 0, errClosed
		case len(s.queue) > 0:
			d := s.queue[0]
			s.queue = s.queue[1:]
			s.mu.Unlock()
			if d.err != nil {
				return 0, d.err
			}
			copy(b, d.b)
			return len(d.b), nil
		case !s.deadline.IsZero() && !time.Now().Before(s.deadline):
			s.mu.Unlock()
			return 0, os.ErrDeadlineExceeded
		}
		var deadline *time.Timer
		var expired <-chan time.Time
		if !s.deadline.IsZero() {
			deadline = time.NewTimer(time.Until(s.deadline))
			expired = deadline.C
		}
		s.mu.Unlock()
		select {
		case <-s.wake:
		case <-expired:
		}
		if deadline != nil {
			deadline.Stop()
		}
	}
}

// RecvBatch hands out the next queued datagram as Recv does, then the
// ones queued behind it, up to len(bufs); an error queued behind the
// first waits for the next call.
func (s *Socket) RecvBatch(bufs [][]byte, lens []int) (int, error) {
	n, err := s.Recv(bufs[0])
	if err != nil {
		return 0, err
	}
	lens[0] = n
	i := 1
	s.mu.Lock()
	defer s.mu.Unlock()
	for ; i < len(bufs) && len(s.queue) > 0 && s.queue[0].err == nil && !s.closed; i++ {
		d := s.queue[0]
		s.queue = s.queue[1:]
		copy(bufs[i], d.b)
		lens[i] = len(d.b)
	}
	return i, nil
}

// Pending reports whether a datagram is queued; a queued overflow is
// consumed and returned.
func (s *Socket) Pending() (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.queue) == 0 {
		return false, nil
	}
	if err := s.queue[0].err; err != nil {
		s.queue = s.queue[1:]
		return true, err
	}
	return true, nil
}

// SetReadDeadline sets the deadline of reads that do not poll.
func (s *Socket) SetReadDeadline(t time.Time) error {
	s.mu.Lock()
	s.deadline = t
	s.mu.Unlock()
	s.signal()
	return nil
}

// JoinGroup records the subscription (see Groups).
func (s *Socket) JoinGroup(group uint32) error {
	s.mu.Lock()
	s.groups = append(s.groups, group)
	s.mu.Unlock()
	return nil
}

// Groups lists the multicast groups joined, in order.
func (s *Socket) Groups() []uint32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]uint32(nil), s.groups...)
}

// SetReceiveBuffer grants what is asked, doubled as Linux reports it.
func (s *Socket) SetReceiveBuffer(bytes int) (int, bool, error) { return 2 * bytes, true, nil }

// Drops counts the messages Overflow said were dropped.
func (s *Socket) Drops() (uint32, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.drops, nil
}

// Close makes later and blocked reads and sends fail.
func (s *Socket) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.signal()
	return nil
}

var _ ctnl.Socket = (*Socket)(nil)

// Messages splits a datagram into its messages, with ctnl's own walk.
// Each message's Data aliases b.
func Messages(b []byte) ([]netlink.Message, error) {
	var msgs []netlink.Message
	w := ctnl.Walk(b)
	for w.Next() {
		msgs = append(msgs, netlink.Message{Header: w.Header(), Data: w.Data()})
	}
	return msgs, w.Err()
}

// Datagram encodes messages back to back into one datagram, each with
// its length filled in.
func Datagram(msgs ...netlink.Message) []byte {
	var b []byte
	for _, m := range msgs {
		b = ctnl.AppendMessage(b, m.Header, m.Data)
	}
	return b
}

// Serve makes a Handler from a function that answers one request message
// with groups of messages, each group a datagram (the kernel sends a
// GET's answer and its acknowledgement in two, a dump's messages and its
// DONE often in one). A datagram with several messages (a Write batch)
// calls fn for each. A malformed datagram fails the send.
func Serve(fn func(req netlink.Message) [][]netlink.Message) Handler {
	return func(b []byte) ([][]byte, error) {
		reqs, err := Messages(b)
		if err != nil {
			return nil, err
		}
		var out [][]byte
		for _, r := range reqs {
			for _, group := range fn(r) {
				out = append(out, Datagram(group...))
			}
		}
		return out, nil
	}
}

// Ack is the kernel's answer to req: an acknowledgement for errno 0, else
// an error that echoes the whole request (as without NETLINK_CAP_ACK).
func Ack(req netlink.Message, errno syscall.Errno) netlink.Message {
	return ExtAck(req, errno, "")
}

// ExtAck is Ack with the kernel's reason text (NLMSGERR_ATTR_MSG) when
// text is not empty.
func ExtAck(req netlink.Message, errno syscall.Errno, text string) netlink.Message {
	data := binary.NativeEndian.AppendUint32(nil, uint32(-int32(errno)))
	echo := req.Data
	if errno == 0 {
		echo = nil
	}
	at := len(data)
	data = ctnl.AppendMessage(data, req.Header, echo)
	// The echoed header keeps the request's own length.
	binary.NativeEndian.PutUint32(data[at:], uint32(16+len(req.Data)))
	h := netlink.Header{Type: netlink.Error, Sequence: req.Header.Sequence, PID: req.Header.PID}
	if text != "" {
		h.Flags |= 0x200 // NLM_F_ACK_TLVS
		e := ctnl.NewEncoder(nil)
		e.String(1, text) // NLMSGERR_ATTR_MSG
		data = append(data, e.Bytes()...)
	}
	return netlink.Message{Header: h, Data: data}
}

// Reply is a message of req's subsystem and message type typ answering
// req, with the given flags (netlink.Multi in a dump or GET answer), a
// netfilter header of family and the attributes.
func Reply(req netlink.Message, typ uint8, flags netlink.HeaderFlags, family uint8, attrs []byte) netlink.Message {
	return netlink.Message{
		Header: netlink.Header{Type: req.Header.Type&0xff00 | netlink.HeaderType(typ), Flags: flags,
			Sequence: req.Header.Sequence, PID: req.Header.PID},
		Data: append([]byte{family, 0, 0, 0}, attrs...),
	}
}

// Done ends a dump answering req.
func Done(req netlink.Message) netlink.Message {
	return netlink.Message{
		Header: netlink.Header{Type: netlink.Done, Flags: netlink.Multi, Sequence: req.Header.Sequence, PID: req.Header.PID},
		Data:   make([]byte, 4),
	}
}
