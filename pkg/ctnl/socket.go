package ctnl

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// Socket carries netlink datagrams between a Conn and the kernel: bytes
// in, bytes out, and the few socket controls the engine needs. Dial's
// socket is a kernel NETLINK_NETFILTER socket; package ctnltest has an
// in-memory one that answers with a handler, so that unit tests run the
// same message walk as production.
type Socket interface {
	// Send sends one datagram: one or more netlink messages back to back.
	Send(b []byte) error
	// Recv reads one datagram into b and returns its whole length, which
	// is more than len(b) when it did not fit (and was cut). It blocks
	// until a datagram comes or the read deadline passes.
	Recv(b []byte) (int, error)
	// RecvBatch reads like Recv, then whatever more datagrams are ready
	// without waiting, one per buffer of bufs, and returns how many it
	// read, each one's whole length in lens. An error comes back only
	// when nothing was read; one met after the first datagram waits for
	// the next call.
	RecvBatch(bufs [][]byte, lens []int) (int, error)
	// Pending reports, without blocking, whether a datagram waits. An
	// error waiting in its place (ENOBUFS) is consumed and returned.
	Pending() (bool, error)
	// SetReadDeadline makes a blocked or later Recv with wait == 0 fail
	// with os.ErrDeadlineExceeded once t has passed; zero clears it.
	SetReadDeadline(t time.Time) error
	// JoinGroup subscribes to a netlink multicast group.
	JoinGroup(group uint32) error
	// SetReceiveBuffer asks for a receive buffer of the given size and
	// returns what was granted and whether the privileged way worked.
	SetReceiveBuffer(bytes int) (granted int, forced bool, err error)
	// Drops counts the datagrams lost to a full buffer since the socket
	// was opened.
	Drops() (uint32, error)
	Close() error
}

// DialOptions choose where a Conn talks.
type DialOptions struct {
	// NetNS names a network namespace: a name under /run/netns (as made by
	// `ip netns add`) or a path such as /proc/PID/ns/net. Empty means the
	// caller's namespace.
	NetNS string
}

// Dial opens a netfilter netlink socket.
func Dial(opts DialOptions) (*Conn, error) {
	s, err := dialKernel(opts)
	if err != nil {
		return nil, err
	}
	return New(s), nil
}

// kernelSocket is a kernel netlink socket. mdlayher/netlink opens it (in
// another network namespace if asked, on a thread of its own) and sets its
// options; every datagram goes through the raw descriptor, read with
// recvfrom(2) into the caller's buffer, so a packet loop does not allocate.
type kernelSocket struct {
	nl  *netlink.Conn
	raw syscall.RawConn

	// rd and wr hold the arguments and results of one raw read or write
	// (apart, so that one goroutine may write while another reads); the
	// functions are bound once so that a packet loop does not allocate a
	// closure per datagram.
	rd      readIO
	wr      writeIO
	readFn  func(fd uintptr) bool
	writeFn func(fd uintptr) bool
	// batch makes readFn read with recvmmsg(2) into rd.bufs.
	batch bool
	peek  [1]byte
}

type readIO struct {
	in  []byte // receive buffer
	n   int
	err error

	// A batch read (RecvBatch): its buffers, their lengths, and the
	// recvmmsg(2) headers, kept from call to call.
	bufs [][]byte
	lens []int
	mmsg []mmsghdr
	iov  []unix.Iovec
}

// mmsghdr is struct mmsghdr: a message header and the length received
// (Go pads it as C does).
type mmsghdr struct {
	hdr unix.Msghdr
	n   uint32
}

type writeIO struct {
	out []byte // datagram to send
	err error
}

func dialKernel(opts DialOptions) (*kernelSocket, error) {
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
		if err := checkNetNS(f); err != nil {
			return nil, &Error{Op: "open network namespace " + opts.NetNS, Err: err,
				Hint: "give a name from `ip netns list` or a path such as /proc/PID/ns/net"}
		}
		cfg.NetNS = int(f.Fd())
	}
	nl, err := netlink.Dial(unix.NETLINK_NETFILTER, cfg)
	if err != nil {
		return nil, newError("open netfilter netlink socket", unwrapOp(err), "", nil)
	}
	// Extended acks give the kernel's reason text where it has one; older
	// kernels refuse the option, which is harmless.
	_ = nl.SetOption(netlink.ExtendedAcknowledge, true)
	raw, err := nl.SyscallConn()
	if err != nil {
		_ = nl.Close()
		return nil, newError("open netfilter netlink socket", err, "", nil)
	}
	s := &kernelSocket{nl: nl, raw: raw}
	s.readFn, s.writeFn = s.readOnce, s.writeOnce
	return s, nil
}

// nsGetNSType is NS_GET_NSTYPE, _IO(0xb7, 0x3) (Linux 4.11): the
// CLONE_NEW* type of a namespace file.
const nsGetNSType = 0xb703

// checkNetNS says whether f is a network namespace before setns would
// refuse any other file with a bare EINVAL.
func checkNetNS(f *os.File) error {
	var st unix.Statfs_t
	if err := unix.Fstatfs(int(f.Fd()), &st); err != nil {
		return err
	}
	if st.Type != unix.NSFS_MAGIC {
		return ErrNotNetNS
	}
	t, err := unix.IoctlRetInt(int(f.Fd()), nsGetNSType)
	if err == nil && t != unix.CLONE_NEWNET {
		return ErrNotNetNS
	}
	return nil
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

func (s *kernelSocket) Send(b []byte) error {
	s.wr = writeIO{out: b}
	err := s.raw.Write(s.writeFn)
	s.wr.out = nil
	if err != nil {
		return err
	}
	return s.wr.err
}

func (s *kernelSocket) writeOnce(fd uintptr) bool {
	// A raw system call (see recv): a netlink send to the kernel does not
	// wait, it runs the messages and returns.
	var errno syscall.Errno
	if len(s.wr.out) > 0 {
		_, _, errno = unix.RawSyscall(unix.SYS_WRITE, fd, uintptr(unsafe.Pointer(&s.wr.out[0])), uintptr(len(s.wr.out)))
	}
	s.wr.err = nil
	if errno != 0 {
		s.wr.err = errno
	}
	return s.wr.err != unix.EAGAIN
}

// Recv waits in the Go runtime's netpoller: a goroutine blocked in a
// system call instead (poll(2)) keeps its P busy in the scheduler's eyes,
// so the runtime's monitor thread never sleeps for long and, after every
// idle spell of over 10 ms, takes the P away and polls every 20 µs for a
// while: at low load that cost a helper engine more CPU than its packets.
func (s *kernelSocket) Recv(b []byte) (int, error) {
	s.rd = readIO{in: b}
	err := s.raw.Read(s.readFn)
	s.rd.in = nil
	if err != nil {
		return 0, err
	}
	return s.rd.n, s.rd.err
}

func (s *kernelSocket) readOnce(fd uintptr) bool {
	s.recvAny(fd, unix.MSG_DONTWAIT)
	return s.rd.err != unix.EAGAIN
}

// RecvBatch reads with recvmmsg(2): one system call takes every datagram
// that is ready, up to len(bufs).
func (s *kernelSocket) RecvBatch(bufs [][]byte, lens []int) (int, error) {
	if len(bufs) > len(s.rd.mmsg) {
		s.rd.mmsg = make([]mmsghdr, len(bufs))
		s.rd.iov = make([]unix.Iovec, len(bufs))
	}
	s.rd.bufs, s.rd.lens = bufs, lens[:len(bufs)]
	s.batch = true
	err := s.raw.Read(s.readFn)
	s.batch = false
	s.rd.bufs, s.rd.lens = nil, nil
	if err != nil {
		return 0, err
	}
	return s.rd.n, s.rd.err
}

// recvAny reads one datagram (Recv) or a batch (RecvBatch).
func (s *kernelSocket) recvAny(fd uintptr, flags int) {
	if s.batch {
		s.recvBatch(fd, flags)
		return
	}
	s.recv(fd, s.rd.in, flags)
}

// recvBatch reads up to len(rd.bufs) datagrams with recvmmsg(2), without
// a source address, with MSG_TRUNC as recv does; rd.n is the count.
func (s *kernelSocket) recvBatch(fd uintptr, flags int) {
	bufs := s.rd.bufs
	for i, b := range bufs {
		s.rd.iov[i] = unix.Iovec{Base: &b[0]}
		s.rd.iov[i].SetLen(len(b))
		s.rd.mmsg[i] = mmsghdr{hdr: unix.Msghdr{Iov: &s.rd.iov[i]}}
		s.rd.mmsg[i].hdr.SetIovlen(1)
	}
	n, _, errno := unix.RawSyscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&s.rd.mmsg[0])), uintptr(len(bufs)),
		uintptr(flags|unix.MSG_DONTWAIT|unix.MSG_TRUNC), 0, 0)
	s.rd.n, s.rd.err = int(n), nil
	if errno != 0 {
		s.rd.n, s.rd.err = 0, errno
		return
	}
	for i := range s.rd.n {
		s.rd.lens[i] = int(s.rd.mmsg[i].n)
	}
}

// The socket's reads (always MSG_DONTWAIT) and writes never wait, so
// they are raw system calls, which leave the Go scheduler out: a system
// call through syscall.Syscall lets the runtime hand the goroutine's P
// to another thread while it runs and costs a futex wake-up to get one
// back after (a netlink write that forwards the packet it releases
// takes long enough for that under load). Waiting is the netpoller's.

// recv reads one datagram into b with recvfrom(2) and no source address
// (unix.Recvmsg allocates one per call). MSG_TRUNC makes the kernel report
// a datagram's full length, so a cut one is seen.
func (s *kernelSocket) recv(fd uintptr, b []byte, flags int) {
	n, _, errno := unix.RawSyscall6(unix.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)),
		uintptr(flags|unix.MSG_DONTWAIT|unix.MSG_TRUNC), 0, 0)
	s.rd.n, s.rd.err = int(n), nil
	if errno != 0 {
		s.rd.n, s.rd.err = 0, errno
	}
}

// Pending peeks: netlink sockets answer no SIOCINQ.
func (s *kernelSocket) Pending() (bool, error) {
	var pending bool
	var perr error
	err := s.raw.Control(func(fd uintptr) {
		s.recv(fd, s.peek[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
		switch s.rd.err {
		case nil:
			pending = true
		case unix.EAGAIN:
		default:
			pending, perr = true, s.rd.err
		}
	})
	if err != nil {
		return false, err
	}
	return pending, perr
}

func (s *kernelSocket) SetReadDeadline(t time.Time) error { return s.nl.SetReadDeadline(t) }

func (s *kernelSocket) JoinGroup(group uint32) error { return unwrapOp(s.nl.JoinGroup(group)) }

// SetReceiveBuffer uses SO_RCVBUFFORCE (as root, above net.core.rmem_max),
// else SO_RCVBUF. The kernel doubles the size for its bookkeeping.
func (s *kernelSocket) SetReceiveBuffer(bytes int) (granted int, forced bool, err error) {
	var serr error
	cerr := s.raw.Control(func(fd uintptr) {
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

// Drops reads sk_drops with SO_MEMINFO.
func (s *kernelSocket) Drops() (uint32, error) {
	var (
		drops uint32
		gerr  error
	)
	cerr := s.raw.Control(func(fd uintptr) {
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

func (s *kernelSocket) Close() error { return s.nl.Close() }
