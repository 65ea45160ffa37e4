package engine

import (
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// dirWatch tells when the directories that hold the configured
// namespaces change: `ip netns add` makes a file in /run/netns and `ip
// netns delete` removes it, and inotify reports both at once. Waiting on
// it, rather than looking every quarter second, leaves an idle engine
// without wake-ups: each look is system calls, and each system call after
// an idle spell wakes the runtime's monitor thread for a burst of its own.
type dirWatch struct {
	f       *os.File // the inotify descriptor, read through the netpoller
	changed chan struct{}
	done    chan struct{}
	dirs    map[string]bool
}

// dirWatchEvents are the changes of a directory's entries, and of the
// directory itself, that can add or remove a namespace.
const dirWatchEvents = unix.IN_CREATE | unix.IN_DELETE | unix.IN_MOVED_FROM | unix.IN_MOVED_TO |
	unix.IN_DELETE_SELF | unix.IN_MOVE_SELF | unix.IN_ONLYDIR

// newDirWatch opens an inotify instance; nil when the kernel refuses one
// (the watcher then polls).
func newDirWatch() *dirWatch {
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return nil
	}
	w := &dirWatch{f: os.NewFile(uintptr(fd), "inotify"), changed: make(chan struct{}, 1),
		done: make(chan struct{}), dirs: map[string]bool{}}
	go w.read()
	return w
}

// read turns events into one pending signal on changed: what changed is
// found by looking again.
func (w *dirWatch) read() {
	defer close(w.done)
	buf := make([]byte, 4096)
	for {
		if _, err := w.f.Read(buf); err != nil {
			return // closed
		}
		select {
		case w.changed <- struct{}{}:
		default:
		}
	}
}

// add watches dir; false when it cannot be watched (missing, say).
func (w *dirWatch) add(dir string) bool {
	if w.dirs[dir] {
		return true
	}
	if _, err := unix.InotifyAddWatch(int(w.f.Fd()), dir, dirWatchEvents); err != nil {
		return false
	}
	w.dirs[dir] = true
	return true
}

func (w *dirWatch) close() {
	w.f.Close()
	<-w.done
}

// Times the watcher waits before it looks again without an event.
const (
	// netnsSettle: a namespace file is there but not mounted yet (`ip
	// netns add` makes the file, then mounts the namespace on it).
	netnsSettle = 50 * time.Millisecond
	// netnsRecheck: nothing inotify misses is expected, but a namespace
	// unmounted and left in place (umount without rm) raises no event.
	netnsRecheck = 10 * time.Second
)

// plan watches the directories words need and says how long the watcher
// may wait for an event before it looks again: poll when a word names a
// file inotify cannot follow (such as /proc/PID/ns/net) or a directory
// that cannot be watched, netnsSettle while a namespace file is not
// mounted yet, else netnsRecheck.
func (w *dirWatch) plan(words []string, unsettled bool, poll time.Duration) time.Duration {
	wait := netnsRecheck
	if unsettled {
		wait = netnsSettle
	}
	for _, word := range words {
		dir := NetnsDir
		if strings.ContainsRune(word, '/') {
			dir = filepath.Clean(word)
			if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
				dir = filepath.Dir(dir)
				if strings.HasPrefix(dir, "/proc/") {
					wait = min(wait, poll) // procfs raises no inotify events
					continue
				}
			}
		}
		if w == nil || !w.add(dir) {
			wait = min(wait, poll)
		}
	}
	return wait
}
