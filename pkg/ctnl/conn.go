package ctnl

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"github.com/mdlayher/netlink"
	"github.com/ti-mo/netfilter"
	"golang.org/x/sys/unix"
)

// Conn is one NETLINK_NETFILTER socket. It is not safe for concurrent
// requests: use one Conn per goroutine (they are cheap).
type Conn struct {
	nl  *netlink.Conn
	raw syscall.RawConn // nil for sockets that are not kernel sockets (nltest)
	buf []byte          // receive buffer, reused by every read

	// io holds the arguments and results of one raw read or write; readFn
	// and writeFn are bound once so that a packet loop does not allocate
	// a closure per datagram.
	io      rawIO
	readFn  func(fd uintptr) bool
	writeFn func(fd uintptr) bool

	// ackFn, when set, receives the kernel's answers (acknowledgements and
	// errors) to messages sent with Write (see SetAckHandler).
	ackFn func(Ack)

	// pollWait, when set, makes reads wait in poll(2) (see SetPollReads).
	pollWait time.Duration
	pollFds  [1]unix.PollFd
	pollFn   func(fd uintptr)
}

type rawIO struct {
	n, flags int
	out      []byte
	err      error
}

// DialOptions choose where a Conn talks.
type DialOptions struct {
	// NetNS names a network namespace: a name under /run/netns (as made by
	// `ip netns add`) or a path such as /proc/PID/ns/net. Empty means the
	// caller's namespace.
	NetNS string
}

// recvBufSize holds the largest datagram the kernel sends us: dumps are
// filled up to 32 KiB, NFQUEUE packets up to 64 KiB plus metadata.
const recvBufSize = 96 * 1024

// Dial opens a netfilter netlink socket.
func Dial(opts DialOptions) (*Conn, error) {
	cfg := &netlink.Config{}
	if opts.NetNS != "" {
		path := opts.NetNS
		if !strings.ContainsRune(path, '/') {
			path = filepath.Join("/run/netns", path)
		}
		f, err := os.Open(path)
		if err != nil {
			return nil, &Error{Op: "open network namespace " + opts.NetNS, Err: err,
				Hint: "give a name from `ip netns list` or a path such as /proc/PID/ns/net"}
		}
		defer f.Close()
		cfg.NetNS = int(f.Fd())
	}
	nl, err := netlink.Dial(unix.NETLINK_NETFILTER, cfg)
	if err != nil {
		return nil, newError("open netfilter netlink socket", unwrapOp(err), "", nil)
	}
	// Extended acks give the kernel's reason text where it has one; older
	// kernels refuse the option, which is harmless.
	_ = nl.SetOption(netlink.ExtendedAcknowledge, true)
	return New(nl), nil
}

// New wraps an existing netlink connection, such as an nltest fake.
func New(nl *netlink.Conn) *Conn {
	c := &Conn{nl: nl}
	if raw, err := nl.SyscallConn(); err == nil {
		c.raw = raw
		c.buf = make([]byte, recvBufSize)
		c.readFn = c.readOnce
		c.writeFn = c.writeOnce
		c.pollFn = c.pollOnce
	}
	return c
}

// Close closes the socket.
func (c *Conn) Close() error { return c.nl.Close() }

// Netlink exposes the underlying connection, for options this package does
// not wrap.
func (c *Conn) Netlink() *netlink.Conn { return c.nl }

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

// Message encodes the request as a netlink message.
func (r Request) Message() netlink.Message {
	data := make([]byte, 4+len(r.Attrs))
	data[0] = byte(r.Family)
	binary.BigEndian.PutUint16(data[2:], r.ResID)
	copy(data[4:], r.Attrs)
	flags := netlink.Request | r.Flags
	if flags&netlink.Dump != netlink.Dump {
		flags |= netlink.Acknowledge
	}
	return netlink.Message{
		Header: netlink.Header{
			Type:  netlink.HeaderType(uint16(r.Subsys)<<8 | uint16(r.Type)),
			Flags: flags,
		},
		Data: data,
	}
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
func (c *Conn) Query(r Request, fn func(Message) error) error {
	m, err := c.nl.Send(r.Message())
	if err != nil {
		return newError(r.Op, unwrapOp(err), "", r.Hints)
	}
	dump := m.Header.Flags&netlink.Dump == netlink.Dump
	st := &queryState{req: r, seq: m.Header.Sequence, fn: fn}
	if c.raw == nil {
		return c.queryMessages(st, dump)
	}
	for !st.done {
		n, err := c.read()
		if err != nil {
			return newError(r.Op, err, "", r.Hints)
		}
		if err := st.handleBuffer(c.buf[:n]); err != nil {
			return err
		}
	}
	return st.err
}

// queryMessages serves sockets that are not kernel sockets (nltest): their
// Receive already assembles multi-part answers.
func (c *Conn) queryMessages(st *queryState, dump bool) error {
	for !st.done {
		msgs, err := c.nl.Receive()
		if err != nil {
			var oe *netlink.OpError
			if errors.As(err, &oe) {
				return newError(st.req.Op, oe.Err, oe.Message, st.req.Hints)
			}
			return newError(st.req.Op, err, "", st.req.Hints)
		}
		for _, m := range msgs {
			if err := st.handle(m.Header, m.Data); err != nil {
				return err
			}
		}
		if dump {
			// Receive strips DONE and returns once it has seen it.
			st.done = true
		}
	}
	return st.err
}

type queryState struct {
	req  Request
	seq  uint32
	fn   func(Message) error
	done bool
	err  error // the callback's error, returned after the answer is drained
}

func (st *queryState) handleBuffer(b []byte) error {
	for len(b) >= unix.NLMSG_HDRLEN {
		l := int(binary.NativeEndian.Uint32(b))
		if l < unix.NLMSG_HDRLEN || l > len(b) {
			return newError(st.req.Op, fmt.Errorf("malformed netlink message (length %d of %d)", l, len(b)), "", nil)
		}
		h := netlink.Header{
			Length:   uint32(l),
			Type:     netlink.HeaderType(binary.NativeEndian.Uint16(b[4:])),
			Flags:    netlink.HeaderFlags(binary.NativeEndian.Uint16(b[6:])),
			Sequence: binary.NativeEndian.Uint32(b[8:]),
			PID:      binary.NativeEndian.Uint32(b[12:]),
		}
		if err := st.handle(h, b[unix.NLMSG_HDRLEN:l]); err != nil {
			return err
		}
		if a := align4(l); a < len(b) {
			b = b[a:]
		} else {
			b = nil
		}
	}
	return nil
}

func (st *queryState) handle(h netlink.Header, data []byte) error {
	if h.Sequence != st.seq && h.Sequence != 0 {
		return nil // the tail of an earlier, abandoned answer
	}
	switch h.Type {
	case netlink.Error:
		if len(data) < 4 {
			return newError(st.req.Op, errors.New("short netlink error message"), "", nil)
		}
		errno := -int32(binary.NativeEndian.Uint32(data))
		st.done = true
		if errno == 0 {
			return nil
		}
		return newError(st.req.Op, syscall.Errno(errno), extAckMessage(h, data), st.req.Hints)
	case netlink.Done:
		st.done = true
		if len(data) >= 4 {
			if errno := -int32(binary.NativeEndian.Uint32(data)); errno != 0 {
				return newError(st.req.Op, syscall.Errno(errno), "", st.req.Hints)
			}
		}
		return nil
	case netlink.Overrun:
		return newError(st.req.Op, unix.ENOBUFS, "", st.req.Hints)
	case netlink.Noop:
		return nil
	}
	if st.fn == nil || st.err != nil || len(data) < 4 {
		return nil
	}
	st.err = st.fn(Message{Header: netfilterHeader(h, data), Attrs: data[4:], PortID: h.PID})
	return nil
}

func netfilterHeader(h netlink.Header, data []byte) netfilter.Header {
	return netfilter.Header{
		Flags:       h.Flags,
		SubsystemID: netfilter.SubsystemID(uint16(h.Type) >> 8),
		MessageType: netfilter.MessageType(uint16(h.Type) & 0xff),
		Family:      netfilter.ProtoFamily(data[0]),
		Version:     data[1],
		ResourceID:  binary.BigEndian.Uint16(data[2:4]),
	}
}

// extAckMessage finds NLMSGERR_ATTR_MSG in an error message that carries
// extended-ack attributes.
func extAckMessage(h netlink.Header, data []byte) string {
	const ackTLVs, capped = 0x200, 0x100 // NLM_F_ACK_TLVS, NLM_F_CAPPED
	if h.Flags&ackTLVs == 0 || len(data) < 4+unix.NLMSG_HDRLEN {
		return ""
	}
	off := 4 + unix.NLMSG_HDRLEN
	if h.Flags&capped == 0 {
		off = 4 + align4(int(binary.NativeEndian.Uint32(data[4:])))
	}
	if off > len(data) {
		return ""
	}
	s := NewScanner(data[off:])
	for s.Next() {
		if s.Type() == 1 { // NLMSGERR_ATTR_MSG
			return s.String()
		}
	}
	return ""
}

// SetPollReads makes every read wait for data in poll(2) on the calling
// OS thread, at most d at a time, instead of parking in the Go runtime's
// netpoller: a dedicated receive loop (NFQUEUE) then wakes up directly
// in the kernel, without an epoll round and a goroutine hand-off per
// packet. A read that finds nothing within d fails with
// os.ErrDeadlineExceeded, so the loop can look at its stop flag; read
// deadlines no longer apply. Zero restores netpoller reads.
func (c *Conn) SetPollReads(d time.Duration) {
	if c.raw != nil {
		c.pollWait = d
	}
}

func (c *Conn) pollOnce(fd uintptr) {
	// Under load the next datagram is usually there already: try first,
	// and wait in poll only when there is nothing.
	c.recv(fd, unix.MSG_DONTWAIT)
	if c.io.err != unix.EAGAIN {
		return
	}
	c.pollFds[0] = unix.PollFd{Fd: int32(fd), Events: unix.POLLIN}
	ms := int(c.pollWait / time.Millisecond)
	for {
		n, err := unix.Poll(c.pollFds[:], ms)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			c.io.err = err
			return
		}
		if n == 0 {
			c.io.err = os.ErrDeadlineExceeded
			return
		}
		break
	}
	c.recv(fd, unix.MSG_DONTWAIT)
}

// read receives one datagram into c.buf.
func (c *Conn) read() (int, error) {
	c.io = rawIO{}
	if c.pollWait > 0 {
		if err := c.raw.Control(c.pollFn); err != nil {
			return 0, err
		}
		if c.io.err == unix.EAGAIN {
			c.io.err = os.ErrDeadlineExceeded // woken for nothing: the caller loops
		}
	} else if err := c.raw.Read(c.readFn); err != nil {
		return 0, err
	}
	if c.io.err != nil {
		return 0, c.io.err
	}
	if c.io.flags&unix.MSG_TRUNC != 0 {
		return 0, fmt.Errorf("netlink datagram larger than the %d-byte receive buffer", len(c.buf))
	}
	return c.io.n, nil
}

func (c *Conn) readOnce(fd uintptr) bool {
	c.recv(fd, 0)
	return c.io.err != unix.EAGAIN && c.io.err != unix.EWOULDBLOCK
}

// recv reads one datagram into c.buf with recvfrom(2) and no source
// address (unix.Recvmsg allocates one per call). MSG_TRUNC makes the
// kernel report a datagram's full length, so a truncated one is seen.
func (c *Conn) recv(fd uintptr, flags int) {
	n, _, errno := unix.Syscall6(unix.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&c.buf[0])), uintptr(len(c.buf)),
		uintptr(flags|unix.MSG_TRUNC), 0, 0)
	c.io.n, c.io.flags, c.io.err = int(n), 0, nil
	if errno != 0 {
		c.io.n, c.io.err = 0, errno
		return
	}
	if c.io.n > len(c.buf) {
		c.io.n, c.io.flags = len(c.buf), unix.MSG_TRUNC
	}
}

func (c *Conn) writeOnce(fd uintptr) bool {
	c.io.n, c.io.err = unix.Write(int(fd), c.io.out)
	return c.io.err != unix.EAGAIN && c.io.err != unix.EWOULDBLOCK
}

// Write sends pre-encoded netlink messages (one or more, each with its
// header, back to back) to the kernel in one datagram, without waiting
// for an answer and without allocating: the engine's verdicts. Errors the
// kernel finds in them come back later through Receive.
func (c *Conn) Write(b []byte) error {
	if c.raw == nil {
		msgs, err := splitMessages(b)
		if err != nil {
			return newError("send", err, "", nil)
		}
		if _, err := c.nl.SendMessages(msgs); err != nil {
			return newError("send", unwrapOp(err), "", nil)
		}
		return nil
	}
	c.io = rawIO{out: b}
	err := c.raw.Write(c.writeFn)
	c.io.out = nil
	if err == nil {
		err = c.io.err
	}
	if err != nil {
		return newError("send", err, "", nil)
	}
	return nil
}

// splitMessages parses a buffer of netlink messages, for sockets that are
// not kernel sockets (nltest).
func splitMessages(b []byte) ([]netlink.Message, error) {
	var msgs []netlink.Message
	for len(b) >= unix.NLMSG_HDRLEN {
		l := int(binary.NativeEndian.Uint32(b))
		if l < unix.NLMSG_HDRLEN || l > len(b) {
			return nil, fmt.Errorf("malformed netlink message (length %d of %d)", l, len(b))
		}
		var m netlink.Message
		if err := m.UnmarshalBinary(b[:l]); err != nil {
			return nil, err
		}
		m.Header.Length = 0 // recomputed by the sender
		msgs = append(msgs, m)
		if a := align4(l); a < len(b) {
			b = b[a:]
		} else {
			b = nil
		}
	}
	return msgs, nil
}

func unwrapOp(err error) error {
	var oe *netlink.OpError
	if errors.As(err, &oe) {
		var se *os.SyscallError
		if errors.As(oe.Err, &se) {
			return se.Err
		}
		return oe.Err
	}
	return err
}

// JoinGroups subscribes the socket to netfilter multicast groups (for
// instance NFNLGRP_CONNTRACK_EXP_NEW).
func (c *Conn) JoinGroups(groups ...netfilter.NetlinkGroup) error {
	for _, g := range groups {
		if err := c.nl.JoinGroup(uint32(g)); err != nil {
			return newError(fmt.Sprintf("join netlink group %d", g), unwrapOp(err), "", nil)
		}
	}
	return nil
}

// SetReceiveBuffer asks for a receive buffer of the given size: with
// SO_RCVBUFFORCE (as root, above net.core.rmem_max), else with SO_RCVBUF.
// It returns the size the kernel granted (which it doubles for bookkeeping)
// and whether the forced variant worked.
func (c *Conn) SetReceiveBuffer(bytes int) (granted int, forced bool, err error) {
	if c.raw == nil {
		return 0, false, c.nl.SetReadBuffer(bytes)
	}
	var serr error
	cerr := c.raw.Control(func(fd uintptr) {
		if unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, bytes) == nil {
			forced = true
		} else {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, bytes)
		}
		if serr == nil {
			granted, serr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF)
		}
	})
	if cerr != nil {
		return 0, false, cerr
	}
	return granted, forced, serr
}

// Drops is the number of messages the kernel dropped for this socket since
// it was opened because its buffer was full (sk_drops, via SO_MEMINFO).
func (c *Conn) Drops() (uint32, error) {
	if c.raw == nil {
		return 0, nil
	}
	var (
		drops uint32
		gerr  error
	)
	cerr := c.raw.Control(func(fd uintptr) {
		const skMeminfoDrops, skMeminfoVars = 8, 9
		var mem [skMeminfoVars]uint32
		l := uint32(len(mem) * 4)
		_, _, e := unix.Syscall6(unix.SYS_GETSOCKOPT, fd, unix.SOL_SOCKET, unix.SO_MEMINFO,
			ptr(&mem[0]), ptr(&l), 0)
		if e != 0 {
			gerr = e
			return
		}
		drops = mem[skMeminfoDrops]
	})
	if cerr != nil {
		return 0, cerr
	}
	return drops, gerr
}

// Receive reads the next datagram of a subscribed (or NFQUEUE) socket and
// calls fn for each message in it. ENOBUFS comes back as an *Error that
// matches ErrLostEvents; the socket stays usable. When ctx ends, Receive
// returns ctx.Err().
func (c *Conn) Receive(ctx context.Context, fn func(Message) error) error {
	if c.raw == nil {
		msgs, err := c.nl.Receive()
		if err != nil {
			return newError("receive", unwrapOp(err), "", nil)
		}
		for _, m := range msgs {
			if len(m.Data) >= 4 && m.Header.Type >= 0x10 {
				if err := fn(Message{Header: netfilterHeader(m.Header, m.Data), Attrs: m.Data[4:], PortID: m.Header.PID}); err != nil {
					return err
				}
			}
		}
		return nil
	}
	if ctx.Done() != nil {
		stop := context.AfterFunc(ctx, func() { _ = c.nl.SetReadDeadline(time.Unix(1, 0)) })
		defer stop()
	}
	n, err := c.read()
	if err != nil {
		if ctx.Err() != nil {
			_ = c.nl.SetReadDeadline(time.Time{})
			return ctx.Err()
		}
		return newError("receive", err, "", nil)
	}
	b := c.buf[:n]
	for len(b) >= unix.NLMSG_HDRLEN {
		l := int(binary.NativeEndian.Uint32(b))
		if l < unix.NLMSG_HDRLEN || l > len(b) {
			return newError("receive", errors.New("malformed netlink message"), "", nil)
		}
		h := netlink.Header{
			Type:  netlink.HeaderType(binary.NativeEndian.Uint16(b[4:])),
			Flags: netlink.HeaderFlags(binary.NativeEndian.Uint16(b[6:])),
			PID:   binary.NativeEndian.Uint32(b[12:]),
		}
		data := b[unix.NLMSG_HDRLEN:l]
		if h.Type == netlink.Error && len(data) >= 4 {
			errno := -int32(binary.NativeEndian.Uint32(data))
			if c.ackFn != nil && len(data) >= 4+unix.NLMSG_HDRLEN {
				a := Ack{Type: binary.NativeEndian.Uint16(data[8:]), Sequence: binary.NativeEndian.Uint32(data[12:])}
				if errno != 0 {
					a.Err = newError("request", syscall.Errno(errno), extAckMessage(h, data), nil)
				}
				c.ackFn(a)
			} else if errno != 0 {
				return newError("receive", syscall.Errno(errno), extAckMessage(h, data), nil)
			}
		} else if h.Type >= 0x10 && len(data) >= 4 {
			if err := fn(Message{Header: netfilterHeader(h, data), Attrs: data[4:], PortID: h.PID}); err != nil {
				return err
			}
		}
		if a := align4(l); a < len(b) {
			b = b[a:]
		} else {
			b = nil
		}
	}
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

// Send sends one message without waiting for an answer (verdicts).
func (c *Conn) Send(m netlink.Message) error {
	if _, err := c.nl.Send(m); err != nil {
		return newError("send", unwrapOp(err), "", nil)
	}
	return nil
}
