package nfq

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/gonfct/gonfct/pkg/ctnl"
	"github.com/ti-mo/netfilter"
	"golang.org/x/sys/unix"
)

// Config is how a queue is bound.
type Config struct {
	Num uint16
	// MaxLen is the most packets the kernel holds for us (QueueLen); 0
	// keeps the kernel's default of 1024.
	MaxLen uint32
	// Conntrack asks for the conntrack glue: NFQA_CT in every packet and
	// NFQA_CT / NFQA_EXP honoured in verdicts. A helper engine needs it.
	Conntrack bool
	// FailOpen makes a full queue accept packets instead of dropping them.
	FailOpen bool
	// CopyRange is how many bytes of each packet to copy; 0 means all
	// (MaxCopyRange).
	CopyRange uint32
	// ReceiveBuffer is the socket receive buffer to ask for, in bytes; 0
	// means DefaultReceiveBuffer.
	ReceiveBuffer int
	// BatchReads, when above 1, makes Receive take up to this many
	// packets that are ready at once (ctnl.Conn.SetBatchReads): under
	// load one system call reads what would take that many.
	BatchReads int
}

// DefaultReceiveBuffer holds a full default queue of small control
// packets, or a few dozen 64 KiB ones.
const DefaultReceiveBuffer = 4 << 20

// Hints for the kernel's answers to queue configuration.
const (
	HintNoGlue = "the kernel lacks the NFQUEUE conntrack glue (CONFIG_NETFILTER_NETLINK_GLUE_CT), or nf_conntrack_netlink " +
		"is not loaded: `modprobe nf_conntrack_netlink`; without it user-space helpers cannot work " +
		"(Debian's and most distribution kernels have it)"
	HintNoQueue = "the kernel lacks nfnetlink_queue: `modprobe nfnetlink_queue` or use a kernel built with CONFIG_NETFILTER_NETLINK_QUEUE"
)

// hintOwned explains EPERM on bind for root: nfnetlink has checked
// CAP_NET_ADMIN already, so the queue belongs to another socket.
func hintOwned(num uint16) string {
	if os.Geteuid() == 0 {
		return fmt.Sprintf("queue %d is bound by another process (another helper engine, conntrackd, an IPS): stop it or choose another queue number", num)
	}
	return ctnl.HintPermission
}

// Queue is one bound NFQUEUE on its own socket. It is not safe for
// concurrent use: one goroutine receives and sends verdicts.
type Queue struct {
	c   *ctnl.Conn
	cfg Config
	pkt Packet
	fn  func(*Packet) error
	cb  func(ctnl.Message) error
	enc ctnl.Encoder

	// staged holds verdicts (and the requests ahead of them) for one
	// write (Stage, Flush); ends marks where each verdict's part ends.
	staged []byte
	ends   []int

	rcvBuf    int
	rcvBufErr error
}

// ReceiveBuffer is the socket receive buffer the kernel granted, or why
// it refused the size asked for.
func (q *Queue) ReceiveBuffer() (int, error) { return q.rcvBuf, q.rcvBufErr }

// Bind binds queue cfg.Num on c (which the Queue then owns) and configures
// it, checking the kernel's acknowledgement of each step. On error the
// queue is left unbound.
func Bind(c *ctnl.Conn, cfg Config) (*Queue, error) {
	q := &Queue{c: c, cfg: cfg}
	q.cb = q.deliver
	if cfg.CopyRange == 0 || cfg.CopyRange > MaxCopyRange {
		q.cfg.CopyRange = MaxCopyRange
	}
	rb := cfg.ReceiveBuffer
	if rb == 0 {
		rb = DefaultReceiveBuffer
	}
	// A smaller buffer than asked for still works (it overflows sooner,
	// which is counted), so a refusal is remembered, not fatal.
	q.rcvBuf, _, q.rcvBufErr = c.SetReceiveBuffer(rb)
	name := fmt.Sprintf("queue %d", cfg.Num)
	q.enc.Reset()
	encodeCmd(&q.enc, cmdBind)
	if err := q.config("bind "+name, ctnl.Hints{
		unix.EPERM:      hintOwned(cfg.Num),
		unix.EBUSY:      fmt.Sprintf("queue %d is bound already by this process: give each helper its own queue", cfg.Num),
		unix.EINVAL:     HintNoQueue,
		unix.EOPNOTSUPP: HintNoQueue,
	}); err != nil {
		return nil, err
	}
	type step struct {
		op     string
		encode func(*ctnl.Encoder)
		hints  ctnl.Hints
		glue   bool // refusal means no conntrack glue
	}
	steps := []step{
		{op: "set copy mode of " + name, encode: func(e *ctnl.Encoder) { encodeParams(e, q.cfg.CopyRange) }},
		{op: "set flags of " + name, encode: func(e *ctnl.Encoder) {
			var flags uint32
			if cfg.Conntrack {
				flags |= FlagConntrack
			}
			if cfg.FailOpen {
				flags |= FlagFailOpen
			}
			// GSO stays off: the kernel segments and checksums packets
			// before queueing them, so a parser sees wire-sized packets
			// with complete checksums it can recompute after a rewrite.
			encodeFlags(e, flags, FlagConntrack|FlagFailOpen|FlagGSO)
		}, hints: ctnl.Hints{unix.EOPNOTSUPP: HintNoGlue, unix.EINVAL: HintNoGlue}, glue: cfg.Conntrack},
	}
	if cfg.MaxLen != 0 {
		steps = append(steps, step{op: "set length of " + name, encode: func(e *ctnl.Encoder) { e.Uint32(cfgMaxLen, cfg.MaxLen) }})
	}
	for _, st := range steps {
		q.enc.Reset()
		st.encode(&q.enc)
		if err := q.config(st.op, st.hints); err != nil {
			var ce *ctnl.Error
			if st.glue && isRefused(err) && errors.As(err, &ce) {
				ce.Kind = ctnl.ErrNotSupported
			}
			_ = q.unbind()
			return nil, err
		}
	}
	c.SetBatchReads(cfg.BatchReads)
	return q, nil
}

func isRefused(err error) bool {
	errno := ctnl.Errno(err)
	return errno == unix.EOPNOTSUPP || errno == unix.EINVAL
}

func (q *Queue) config(op string, hints ctnl.Hints) error {
	return q.c.Do(ctnl.Request{Op: op, Subsys: netfilter.SubsystemID(subsysQueue), Type: msgConfig,
		Family: netfilter.ProtoUnspec, ResID: q.cfg.Num, Attrs: q.enc.Bytes(), Hints: hints})
}

func (q *Queue) unbind() error {
	q.enc.Reset()
	encodeCmd(&q.enc, cmdUnbind)
	return q.config(fmt.Sprintf("unbind queue %d", q.cfg.Num), nil)
}

// Num is the queue number.
func (q *Queue) Num() uint16 { return q.cfg.Num }

// Conn is the queue's socket.
func (q *Queue) Conn() *ctnl.Conn { return q.c }

// Close unbinds the queue and closes its socket. The kernel drops packets
// still queued, so callers first disable the helper feeding the queue.
func (q *Queue) Close() error {
	// An Interrupt left a deadline in the past; the unbind must read its
	// acknowledgement.
	_ = q.c.SetReadDeadline(time.Time{})
	err := q.unbind()
	if cerr := q.c.Close(); err == nil {
		err = cerr
	}
	return err
}

// Interrupt makes a blocked Receive return (with an error for which
// IsInterrupted is true); call it from another goroutine to stop the
// receiving one.
func (q *Queue) Interrupt() { _ = q.c.SetReadDeadline(time.Unix(1, 0)) }

// InterruptAfter makes Receive return as Interrupt does once d has
// passed (a later call moves the time): a loop that calls it after each
// read returns when it has waited d without a packet.
func (q *Queue) InterruptAfter(d time.Duration) { _ = q.c.SetReadDeadline(time.Now().Add(d)) }

// IsInterrupted reports whether err comes from Interrupt.
func IsInterrupted(err error) bool { return errors.Is(err, os.ErrDeadlineExceeded) }

// Receive reads the next datagram and calls fn for each packet in it. The
// packet is valid only during fn. A lost-packets condition (ENOBUFS: our
// socket buffer overflowed, the kernel dropped packets) is returned as an
// error matching ctnl.ErrLostEvents; the queue stays usable.
func (q *Queue) Receive(fn func(*Packet) error) error {
	q.fn = fn
	// No context: Interrupt stops a read without a per-call AfterFunc.
	err := q.c.Receive(context.Background(), q.cb)
	q.fn = nil
	return err
}

func (q *Queue) deliver(m ctnl.Message) error {
	if err := q.pkt.Decode(m); err != nil {
		if errors.Is(err, ErrNotPacket) {
			return nil
		}
		return err
	}
	return q.fn(&q.pkt)
}

// SetAckHandler receives the kernel's answers to requests sent with a
// verdict (Verdict.Request) and its refusals of verdicts.
func (q *Queue) SetAckHandler(fn func(ctnl.Ack)) { q.c.SetAckHandler(fn) }

// Send sends a verdict built with v.
func (q *Queue) Send(v *Verdict) error { return q.c.Write(v.Bytes()) }

// MaxStaged bounds the bytes Stage collects for one write: well under a
// netlink socket's default send buffer (net.core.wmem_default, 208 KiB),
// which caps one datagram.
const MaxStaged = 128 << 10

// Stage adds the verdict built with v to those Flush sends in one
// datagram: nfnetlink runs its messages in order, each on its own (one
// refused does not stop the next), so a batch costs one system call
// instead of one per packet. When the verdict would not fit, the staged
// ones are flushed first (and that flush's error returned, with v staged
// all the same).
func (q *Queue) Stage(v *Verdict) error {
	b := v.Bytes()
	var err error
	if len(q.ends) > 0 && len(q.staged)+len(b) > MaxStaged {
		err = q.Flush()
	}
	q.staged = append(q.staged, b...)
	q.ends = append(q.ends, len(q.staged))
	return err
}

// Staged is how many verdicts wait for Flush.
func (q *Queue) Staged() int { return len(q.ends) }

// Flush sends the staged verdicts in one write. Should that write fail
// (the kernel short of memory), it sends them one verdict at a time, so
// that one bad verdict costs only its own packet: a packet without a
// verdict waits in the queue until the queue is unbound. The error is
// the first that remained.
func (q *Queue) Flush() error {
	if len(q.ends) == 0 {
		return nil
	}
	err := q.c.Write(q.staged)
	if err != nil && len(q.ends) > 1 {
		err = nil
		start := 0
		for _, end := range q.ends {
			if werr := q.c.Write(q.staged[start:end]); werr != nil && err == nil {
				err = werr
			}
			start = end
		}
	}
	q.staged, q.ends = q.staged[:0], q.ends[:0]
	return err
}

// Drops is how many packets the kernel dropped at our socket since Bind
// (socket buffer full).
func (q *Queue) Drops() (uint32, error) { return q.c.Drops() }
