package ctnl

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/mdlayher/netlink"
	"github.com/ti-mo/netfilter"
	"golang.org/x/sys/unix"
)

// Conn is one NETLINK_NETFILTER socket. It is not safe for concurrent
// requests: use one Conn per goroutine (they are cheap).
type Conn struct {
	s   Socket
	buf []byte // receive buffer, reused by every read
	out []byte // request buffer, reused by every request
	seq uint32

	// ackFn, when set, receives the kernel's answers (acknowledgements and
	// errors) to messages sent with Write (see SetAckHandler).
	ackFn func(Ack)

	// bufs, when set (SetBatchReads), are Receive's buffers: bufs[0] is
	// buf, and one read fills as many as there are datagrams ready.
	bufs [][]byte
	lens []int
}

// recvBufSize holds the largest datagram the kernel sends us: dumps are
// filled up to 32 KiB, NFQUEUE packets up to 64 KiB plus metadata.
const recvBufSize = 96 * 1024

// New makes a Conn over a socket: Dial's kernel socket, or a test's fake
// (package ctnltest).
func New(s Socket) *Conn {
	// Query's sequence numbers start at random, as netlink libraries'
	// do: the answer to a message sent with Write under the caller's own
	// numbering is then unlikely to be taken for a Query's.
	return &Conn{s: s, buf: make([]byte, recvBufSize), seq: rand.Uint32()}
}

// Close closes the socket.
func (c *Conn) Close() error { return c.s.Close() }

// Message is one netfilter message received from the kernel. Attrs aliases
// the receive buffer: it is valid only until the callback returns.
type Message struct {
	Header netfilter.Header
	Attrs  []byte
	// PortID is the netlink header's port ID. In an event it names the
	// socket whose request caused it (0: the kernel itself), which is how
	// conntrack -E tells "[USERSPACE] portid=N".
	PortID uint32
}

// Request is one netfilter request.
type Request struct {
	Op     string // said in errors: "add helper ftp"
	Subsys netfilter.SubsystemID
	Type   netfilter.MessageType
	Family netfilter.ProtoFamily
	ResID  uint16
	// Flags beyond Request (and Acknowledge, which Do and Query add for
	// requests that are not dumps): Create, Excl, Replace, Dump.
	Flags netlink.HeaderFlags
	Attrs []byte
	Hints Hints // errno → hint for this request
}

func (r Request) header() netlink.Header {
	flags := netlink.Request | r.Flags
	if flags&netlink.Dump != netlink.Dump {
		flags |= netlink.Acknowledge
	}
	return netlink.Header{Type: netlink.HeaderType(uint16(r.Subsys)<<8 | uint16(r.Type)), Flags: flags}
}

// appendNfgen appends the netfilter header (struct nfgenmsg) and the
// attributes: a request's netlink payload.
func (r Request) appendNfgen(b []byte) []byte {
	b = append(b, byte(r.Family), 0)
	b = binary.BigEndian.AppendUint16(b, r.ResID)
	return append(b, r.Attrs...)
}

// Message encodes the request as a netlink message.
func (r Request) Message() netlink.Message {
	return netlink.Message{Header: r.header(), Data: r.appendNfgen(make([]byte, 0, 4+len(r.Attrs)))}
}

// Do sends a request and waits for the kernel's acknowledgement.
func (c *Conn) Do(r Request) error {
	return c.Query(r, nil)
}

// Query sends a request and calls fn for every message of the answer, as it
// arrives: a dump is never held in memory as a whole. It returns at the end
// of a dump (DONE), at the acknowledgement of a plain request, or at the
// first error. A GET is answered with NLM_F_MULTI but no DONE and then an
// acknowledgement, which is why the acknowledgement, not DONE, ends it.
// A dump the kernel marks as interrupted by a change of the table
// (NLM_F_DUMP_INTR) is read to its end and then fails with an *Error
// that matches ErrDumpInterrupted.
func (c *Conn) Query(r Request, fn func(Message) error) error {
	c.seq++
	h := r.header()
	h.Sequence = c.seq
	c.out = appendHeader(c.out[:0], h, 4+len(r.Attrs))
	c.out = r.appendNfgen(c.out)
	if err := c.s.Send(c.out); err != nil {
		return newError(r.Op, err, "", r.Hints)
	}
	st := queryState{req: &r, seq: h.Sequence, fn: fn}
	for !st.done {
		b, err := c.read()
		if err != nil {
			return newError(r.Op, err, "", r.Hints)
		}
		w := Walk(b)
		for w.Next() {
			if err := st.handle(w.Header(), w.Data()); err != nil {
				return err
			}
		}
		if w.Err() != nil {
			return newError(r.Op, w.Err(), "", nil)
		}
	}
	if st.err == nil && st.interrupted {
		return newError(r.Op, ErrDumpInterrupted, "", r.Hints)
	}
	return st.err
}

type queryState struct {
	req         *Request
	seq         uint32
	fn          func(Message) error
	done        bool
	interrupted bool
	err         error // the callback's error, returned after the answer is drained
}

func (st *queryState) handle(h netlink.Header, data []byte) error {
	if h.Sequence != st.seq && h.Sequence != 0 {
		return nil // the tail of an earlier, abandoned answer
	}
	switch h.Type {
	case netlink.Error:
		a, err := parseError(h, data)
		if err != nil {
			return newError(st.req.Op, err, "", nil)
		}
		st.done = true
		if a.errno == 0 {
			return nil
		}
		return newError(st.req.Op, a.errno, a.text, st.req.Hints)
	case netlink.Done:
		st.done = true
		if errno, text := parseDone(h, data); errno != 0 {
			return newError(st.req.Op, errno, text, st.req.Hints)
		}
		st.interrupted = st.interrupted || h.Flags&flagDumpIntr != 0
		return nil
	case netlink.Overrun:
		return newError(st.req.Op, unix.ENOBUFS, "", st.req.Hints)
	case netlink.Noop:
		return nil
	}
	st.interrupted = st.interrupted || h.Flags&flagDumpIntr != 0
	if st.fn == nil || st.err != nil || len(data) < 4 {
		return nil
	}
	st.err = st.fn(message(h, data))
	return nil
}

// message is a netfilter message (its payload at least the 4-byte
// nfgenmsg) as handed to callbacks.
func message(h netlink.Header, data []byte) Message {
	return Message{
		Header: netfilter.Header{
			Flags:       h.Flags,
			SubsystemID: netfilter.SubsystemID(uint16(h.Type) >> 8),
			MessageType: netfilter.MessageType(uint16(h.Type) & 0xff),
			Family:      netfilter.ProtoFamily(data[0]),
			Version:     data[1],
			ResourceID:  binary.BigEndian.Uint16(data[2:4]),
		},
		Attrs:  data[4:],
		PortID: h.PID,
	}
}

// read receives one datagram into c.buf.
func (c *Conn) read() ([]byte, error) {
	n, err := c.s.Recv(c.buf)
	if err != nil {
		return nil, err
	}
	if n > len(c.buf) {
		return nil, fmt.Errorf("netlink datagram of %d bytes larger than the %d-byte receive buffer", n, len(c.buf))
	}
	return c.buf[:n], nil
}

// SetBatchReads makes each Receive read up to n datagrams that are ready
// at once (recvmmsg(2)) and hand all their messages to its callback; the
// messages stay valid until the next Receive. It costs n receive buffers
// of 96 KiB. n <= 1 restores one datagram per Receive.
func (c *Conn) SetBatchReads(n int) {
	if n <= 1 {
		c.bufs, c.lens = nil, nil
		return
	}
	c.bufs = make([][]byte, n)
	c.bufs[0] = c.buf
	for i := 1; i < n; i++ {
		c.bufs[i] = make([]byte, recvBufSize)
	}
	c.lens = make([]int, n)
}

// SetReadDeadline makes a blocked or later read (Receive, Query) fail
// with os.ErrDeadlineExceeded once t has passed: a time in the past
// interrupts a receive loop from another goroutine. Zero clears it.
func (c *Conn) SetReadDeadline(t time.Time) error { return c.s.SetReadDeadline(t) }

// Pending reports whether a datagram waits on the socket, without
// reading it: false when a reader has caught up. An overflow met this
// way is consumed and returned as an *Error that matches ErrLostEvents.
func (c *Conn) Pending() (bool, error) {
	pending, err := c.s.Pending()
	if err != nil {
		return pending, newError("receive", err, "", nil)
	}
	return pending, nil
}

// Write sends pre-encoded netlink messages (one or more, each with its
// header, back to back) to the kernel in one datagram, without waiting
// for an answer and without allocating: the engine's verdicts. Errors the
// kernel finds in them come back later through Receive. A malformed
// buffer is refused here, as the kernel would drop it without a word.
func (c *Conn) Write(b []byte) error {
	w := Walk(b)
	for w.Next() {
	}
	if w.Err() != nil {
		return newError("send", w.Err(), "", nil)
	}
	if err := c.s.Send(b); err != nil {
		return newError("send", err, "", nil)
	}
	return nil
}

// JoinGroups subscribes the socket to netfilter multicast groups (for
// instance NFNLGRP_CONNTRACK_EXP_NEW).
func (c *Conn) JoinGroups(groups ...netfilter.NetlinkGroup) error {
	for _, g := range groups {
		if err := c.s.JoinGroup(uint32(g)); err != nil {
			return newError(fmt.Sprintf("join netlink group %d", g), err, "", nil)
		}
	}
	return nil
}

// SetReceiveBuffer asks for a receive buffer of the given size: with
// SO_RCVBUFFORCE (as root, above net.core.rmem_max), else with SO_RCVBUF.
// It returns the size the kernel granted (which it doubles for bookkeeping)
// and whether the forced variant worked.
func (c *Conn) SetReceiveBuffer(bytes int) (granted int, forced bool, err error) {
	return c.s.SetReceiveBuffer(bytes)
}

// Drops is the number of messages the kernel dropped for this socket since
// it was opened because its buffer was full (sk_drops, via SO_MEMINFO).
func (c *Conn) Drops() (uint32, error) { return c.s.Drops() }

// Receive reads the next datagram of a subscribed (or NFQUEUE) socket and
// calls fn for each message in it. ENOBUFS comes back as an *Error that
// matches ErrLostEvents; the socket stays usable. When ctx ends, Receive
// returns ctx.Err().
func (c *Conn) Receive(ctx context.Context, fn func(Message) error) error {
	if ctx.Done() != nil {
		stop := context.AfterFunc(ctx, func() { _ = c.s.SetReadDeadline(time.Unix(1, 0)) })
		defer stop()
	}
	if c.bufs != nil {
		return c.receiveBatch(ctx, fn)
	}
	b, err := c.read()
	if err != nil {
		if ctx.Err() != nil {
			_ = c.s.SetReadDeadline(time.Time{})
			return ctx.Err()
		}
		return newError("receive", err, "", nil)
	}
	return c.deliver(b, fn)
}

// receiveBatch is Receive with SetBatchReads: every datagram ready, in
// order of arrival.
func (c *Conn) receiveBatch(ctx context.Context, fn func(Message) error) error {
	n, err := c.s.RecvBatch(c.bufs, c.lens)
	if err != nil {
		if ctx.Err() != nil {
			_ = c.s.SetReadDeadline(time.Time{})
			return ctx.Err()
		}
		return newError("receive", err, "", nil)
	}
	// A bad datagram does not cost the ones after it (NFQUEUE packets
	// there wait for their verdicts): the first error comes back after
	// all were delivered.
	var first error
	for i := range n {
		if c.lens[i] > len(c.bufs[i]) {
			err = fmt.Errorf("netlink datagram of %d bytes larger than the %d-byte receive buffer", c.lens[i], len(c.bufs[i]))
		} else {
			err = c.deliver(c.bufs[i][:c.lens[i]], fn)
		}
		if first == nil {
			first = err
		}
	}
	return first
}

// deliver walks one datagram: answers to the ack handler, the rest to fn.
func (c *Conn) deliver(b []byte, fn func(Message) error) error {
	w := Walk(b)
	for w.Next() {
		h, data := w.Header(), w.Data()
		switch {
		case h.Type == netlink.Error:
			if err := c.answered(h, data); err != nil {
				return err
			}
		case h.Type >= 0x10 && len(data) >= 4: // below 0x10: netlink's own types
			if err := fn(message(h, data)); err != nil {
				return err
			}
		}
	}
	if w.Err() != nil {
		return newError("receive", w.Err(), "", nil)
	}
	return nil
}

// answered hands the kernel's answer to a message sent with Write to the
// ack handler; without one, a failure is Receive's error.
func (c *Conn) answered(h netlink.Header, data []byte) error {
	a, err := parseError(h, data)
	if err != nil {
		return newError("receive", err, "", nil)
	}
	if c.ackFn == nil || !a.hasOrig {
		if a.errno != 0 {
			return newError("receive", a.errno, a.text, nil)
		}
		return nil
	}
	ack := Ack{Type: a.typ, Sequence: a.seq}
	if a.errno != 0 {
		ack.Err = newError("request", a.errno, a.text, nil)
	}
	c.ackFn(ack)
	return nil
}

// Ack is the kernel's answer to one message sent with Write: Type and
// Sequence are those of the message answered; Err is nil for an
// acknowledgement, else the *Error.
type Ack struct {
	Type     uint16
	Sequence uint32
	Err      error
}

// SetAckHandler makes Receive hand the kernel's answers to fire-and-forget
// requests (acknowledgements, and the errors the kernel sends for a
// failed request even without NLM_F_ACK) to fn, instead of returning an
// error for the first failed one. A receive loop that batches requests
// with its verdicts learns each one's fate this way.
func (c *Conn) SetAckHandler(fn func(Ack)) { c.ackFn = fn }
