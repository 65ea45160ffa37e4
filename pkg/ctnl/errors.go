package ctnl

import (
	"errors"
	"fmt"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// Sentinel errors a caller can test with errors.Is, whatever the errno the
// kernel chose. The errno itself stays reachable: errors.Is(err, unix.EBUSY)
// works as well.
var (
	// ErrNotSupported: the running kernel lacks the subsystem or feature.
	ErrNotSupported = errors.New("not supported by the running kernel")
	// ErrNotFound: the object named in the request does not exist.
	ErrNotFound = errors.New("not found")
	// ErrExists: an object with that key exists already.
	ErrExists = errors.New("already exists")
	// ErrBusy: the object is in use, or its key clashes with another.
	ErrBusy = errors.New("busy")
	// ErrPermission is os.ErrPermission: the caller lacks CAP_NET_ADMIN.
	ErrPermission = os.ErrPermission
	// ErrLostEvents: the socket buffer overflowed (ENOBUFS) and events were
	// dropped by the kernel.
	ErrLostEvents = errors.New("events lost: socket receive buffer overflowed")
	// ErrDumpInterrupted: the table changed while it was dumped
	// (NLM_F_DUMP_INTR), so the answer may miss or repeat entries.
	ErrDumpInterrupted = errors.New("dump interrupted by a change of the table (NLM_F_DUMP_INTR)")
)

// ErrNotNetNS: a --netns file that is not a network namespace (a plain
// file, or a namespace of another type such as /proc/PID/ns/mnt).
var ErrNotNetNS = errors.New("not a network namespace")

// HintPermission is said whenever the kernel answers EPERM: every netfilter
// subsystem checks CAP_NET_ADMIN (cthelper even in the initial user namespace).
const HintPermission = "needs CAP_NET_ADMIN: run as root (in the initial user namespace for helpers)"

// Error is a failed netfilter operation: what was attempted, the kernel's
// errno, the kernel's extended-ack text if it sent one, and a hint: what the
// errno does not say (the cause, a fix outside the caller's program). A
// program adds its own advice around the Error (gonfct: cli.AdviseOn).
type Error struct {
	Op   string // what was attempted, e.g. "add helper ftp"
	Err  error  // usually a syscall.Errno
	Msg  string // extended ack message from the kernel, if any
	Hint string // what the errno does not say, e.g. "it is in use by 1 rule"
	// Kind, when set, is a sentinel the error also matches with errors.Is,
	// for errnos whose meaning depends on the subsystem (EINVAL from
	// nfnetlink for an absent subsystem is ErrNotSupported).
	Kind error
}

func (e *Error) Error() string {
	s := e.Op
	if s != "" {
		s += ": "
	}
	s += errText(e.Err)
	if e.Msg != "" {
		s += " (kernel: " + e.Msg + ")"
	}
	if e.Hint != "" {
		s += ": " + e.Hint
	}
	return s
}

// errText is strerror with a lower-case first letter, as Go errors read.
func errText(err error) string {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return unix.ErrnoName(errno) + " " + errno.Error()
	}
	if err == nil {
		return "unknown error"
	}
	return err.Error()
}

func (e *Error) Unwrap() error { return e.Err }

// Is maps errnos onto the package sentinels.
func (e *Error) Is(target error) bool {
	if e.Kind != nil && target == e.Kind {
		return true
	}
	var errno syscall.Errno
	if !errors.As(e.Err, &errno) {
		return false
	}
	switch target {
	case ErrPermission:
		return errno == unix.EPERM || errno == unix.EACCES
	case ErrNotFound:
		return errno == unix.ENOENT
	case ErrExists:
		return errno == unix.EEXIST
	case ErrBusy:
		return errno == unix.EBUSY
	case ErrNotSupported:
		return errno == unix.EOPNOTSUPP || errno == unix.EAFNOSUPPORT || errno == unix.EPROTONOSUPPORT
	case ErrLostEvents:
		return errno == unix.ENOBUFS
	}
	return false
}

// Errno returns the errno inside err, or 0.
func Errno(err error) syscall.Errno {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return errno
	}
	return 0
}

// Hints maps an errno to the hint said with it for one request. A request's
// hints override the defaults (EPERM).
type Hints map[syscall.Errno]string

func newError(op string, err error, msg string, hints Hints) *Error {
	e := &Error{Op: op, Err: err, Msg: msg}
	errno := Errno(err)
	if h, ok := hints[errno]; ok {
		e.Hint = h
	} else if errno == unix.EPERM {
		e.Hint = HintPermission
	}
	return e
}

// Errorf builds an Error for a check gonfct makes itself before or after
// talking to the kernel.
func Errorf(op string, errno syscall.Errno, hint string, args ...any) *Error {
	return &Error{Op: op, Err: errno, Hint: fmt.Sprintf(hint, args...)}
}
