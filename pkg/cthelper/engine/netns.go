package engine

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/gonfct/gonfct/pkg/ctnl"
	"golang.org/x/sys/unix"
)

// NetnsDir is where `ip netns` keeps named namespaces: as a Config.Netns
// word, every namespace it makes is served.
const NetnsDir = "/run/netns"

// nsID identifies a network namespace: its nsfs inode. A name deleted and
// made again is another namespace.
type nsID struct{ dev, ino uint64 }

// nsFile is a network namespace found on disk.
type nsFile struct {
	name  string // how logs, metrics and Helper.Netns call it
	path  string
	id    nsID
	named bool // named itself, not found in a directory
}

func nsNames(fs []nsFile) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = f.name
	}
	return out
}

// nsSources are the Config.Netns words, resolved on every look.
type nsSources []string

// follows lists the directories among the words.
func (s nsSources) follows() []string {
	var out []string
	for _, w := range s {
		if strings.ContainsRune(w, '/') {
			if fi, err := os.Stat(w); err == nil && fi.IsDir() {
				out = append(out, filepath.Clean(w))
			}
		}
	}
	return out
}

// scan finds the namespaces the words name now, each once (the first
// name wins). A named namespace that is missing or not a network
// namespace is reported in missing; a directory's entries that are not
// (yet) namespaces are skipped (`ip netns add` makes the file before it
// mounts the namespace on it): unsettled says one was met.
func (s nsSources) scan() (found []nsFile, missing []error, unsettled bool) {
	seen := map[nsID]bool{}
	add := func(name, path string, named bool) {
		id, err := probeNetns(path)
		if err != nil {
			if errors.Is(err, errNotMounted) {
				unsettled = true
			}
			if named {
				missing = append(missing, &NetnsError{Netns: path, Err: err})
			}
			return
		}
		if !seen[id] {
			seen[id] = true
			found = append(found, nsFile{name: name, path: path, id: id, named: named})
		}
	}
	for _, w := range s {
		if !strings.ContainsRune(w, '/') {
			add(w, filepath.Join(NetnsDir, w), true)
			continue
		}
		fi, err := os.Stat(w)
		if err != nil || !fi.IsDir() {
			add(nsName(w), w, true)
			continue
		}
		des, err := os.ReadDir(w)
		if err != nil {
			missing = append(missing, &NetnsError{Netns: w, Err: err})
			continue
		}
		for _, de := range des {
			if !de.IsDir() {
				p := filepath.Join(w, de.Name())
				add(nsName(p), p, false)
			}
		}
	}
	return found, missing, unsettled
}

// nsName is how a namespace file is called: its name when it is one of
// `ip netns`'s, else its path.
func nsName(path string) string {
	path = filepath.Clean(path)
	if filepath.Dir(path) == NetnsDir {
		return filepath.Base(path)
	}
	return path
}

// OwnNetnsName is how another process can name the network namespace
// this one runs in: /proc/1/ns/net when it is the host's first one, its
// name under /run/netns when it has one, else /proc/PID/ns/net, which
// names it only while this process runs.
func OwnNetnsName() string {
	if self, err := probeNetns("/proc/self/ns/net"); err == nil {
		if id, err := probeNetns("/proc/1/ns/net"); err == nil && id == self {
			return "/proc/1/ns/net"
		}
		des, _ := os.ReadDir(NetnsDir)
		for _, de := range des {
			if id, err := probeNetns(filepath.Join(NetnsDir, de.Name())); err == nil && id == self {
				return de.Name()
			}
		}
	}
	return fmt.Sprintf("/proc/%d/ns/net", os.Getpid())
}

// errNotMounted: a file under a namespace's name with no namespace on it
// (`ip netns add` makes the file before it mounts the namespace).
var errNotMounted = errors.New("not a namespace file (nothing is mounted on it)")

// probeNetns checks that path is a mounted namespace and returns its
// identity.
func probeNetns(path string) (nsID, error) {
	var sfs unix.Statfs_t
	if err := unix.Statfs(path, &sfs); err != nil {
		return nsID{}, err
	}
	if sfs.Type != unix.NSFS_MAGIC {
		return nsID{}, errNotMounted
	}
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return nsID{}, err
	}
	return nsID{dev: st.Dev, ino: st.Ino}, nil
}

// openNetns opens a namespace file to hold it for as long as it is
// served: its sockets are then dialled through the open file, so that a
// name deleted or re-used meanwhile cannot lead them elsewhere. It checks
// the identity scan found and the namespace's type.
func openNetns(f nsFile) (*os.File, error) {
	fd, err := os.Open(f.path)
	if err != nil {
		return nil, &NetnsError{Netns: f.path, Err: err}
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(fd.Fd()), &st); err != nil || (nsID{dev: st.Dev, ino: st.Ino}) != f.id {
		fd.Close()
		return nil, &NetnsError{Netns: f.path, Err: errors.New("replaced while being opened")}
	}
	if t, err := unix.IoctlRetInt(int(fd.Fd()), unix.NS_GET_NSTYPE); err == nil && t != unix.CLONE_NEWNET {
		fd.Close()
		return nil, &NetnsError{Netns: f.path, Err: errors.New("a namespace of another type, not a network namespace")}
	}
	return fd, nil
}

// NetnsError is a failure in one of the namespaces an engine serves, or
// is told to serve.
type NetnsError struct {
	Netns string
	Err   error
}

func (e *NetnsError) Error() string { return "network namespace " + e.Netns + ": " + e.Err.Error() }
func (e *NetnsError) Unwrap() error { return e.Err }

// dialVia opens netfilter sockets in the namespace held open as fd.
func dialVia(fd *os.File) func() (*ctnl.Conn, error) {
	path := fmt.Sprintf("/proc/self/fd/%d", fd.Fd())
	return func() (*ctnl.Conn, error) { return ctnl.Dial(ctnl.DialOptions{NetNS: path}) }
}
