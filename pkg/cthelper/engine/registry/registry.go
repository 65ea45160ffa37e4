// Package registry is where the helper engines of one host say which
// helper objects they serve. Helper objects (nfnetlink_cthelper) are
// global to the kernel while queues are per network namespace, so an
// engine that starts, reloads or exits could re-point or disable a helper
// another engine serves elsewhere: engines consult the registry first.
//
// The registry is a directory (DefaultDir) with one file per running
// engine, holding its pid, namespaces and helpers. The engine keeps an
// exclusive flock(2) on its file for as long as it runs, so the file of
// an engine that died (even by SIGKILL) is recognised as stale by the
// lock alone, whatever its pid has become since. Changes are serialised
// by a lock file in the same directory.
package registry

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// DefaultDir is the registry of the host. /run is one file system for
// every network namespace (ip netns exec keeps it), which is what makes
// the registry host-wide.
const DefaultDir = "/run/gonfct"

// lockWait bounds the wait for another engine's change in progress.
const lockWait = 10 * time.Second

// Helper is a helper object an engine serves.
type Helper struct {
	Name   string `json:"name"`
	Family string `json:"family"` // inet or inet6
	Proto  string `json:"proto"`  // tcp or udp
	Queue  uint16 `json:"queue"`
}

// Same reports whether h and o are the same kernel object (name, family
// and protocol are its key).
func (h Helper) Same(o Helper) bool {
	return h.Name == o.Name && h.Family == o.Family && h.Proto == o.Proto
}

func (h Helper) String() string { return h.Name + " " + h.Family + " " + h.Proto }

// Entry is one running engine.
type Entry struct {
	PID     int       `json:"pid"`
	Started time.Time `json:"started"`
	// Netns are the namespaces it serves now, by the names it was given;
	// "" is its own namespace.
	Netns []string `json:"netns"`
	// Own is how another process names the engine's own namespace, when
	// it serves it ("" in Netns): /proc/1/ns/net for the host's first
	// namespace, its `ip netns` name, else /proc/PID/ns/net (which
	// names it only while the engine runs).
	Own string `json:"own,omitempty"`
	// Follows are the directories it follows (every namespace in them).
	Follows []string `json:"follows,omitempty"`
	Helpers []Helper `json:"helpers"`
}

// Serves finds the entry's helper that is the same object as h.
func (e *Entry) Serves(h Helper) (Helper, bool) {
	for _, x := range e.Helpers {
		if x.Same(h) {
			return x, true
		}
	}
	return Helper{}, false
}

// OwnName is how another process names the engine's own namespace.
func (e *Entry) OwnName() string {
	if e.Own != "" {
		return e.Own
	}
	return fmt.Sprintf("/proc/%d/ns/net", e.PID)
}

// NetnsText says where the engine works, for messages: "namespaces a, b",
// "its own network namespace (/proc/1/ns/net)", "every namespace in
// /run/netns (now a)".
func (e *Entry) NetnsText() string {
	var names []string
	own := false
	for _, n := range e.Netns {
		if n == "" {
			own = true
			continue
		}
		names = append(names, n)
	}
	var parts []string
	if own {
		parts = append(parts, "its own network namespace ("+e.OwnName()+")")
	}
	if len(e.Follows) > 0 {
		s := "every namespace in " + strings.Join(e.Follows, " and ")
		if len(names) > 0 {
			s += " (now " + strings.Join(names, ", ") + ")"
		} else {
			s += " (none now)"
		}
		return strings.Join(append(parts, s), " and ")
	}
	switch len(names) {
	case 0:
	case 1:
		parts = append(parts, "namespace "+names[0])
	default:
		parts = append(parts, "namespaces "+strings.Join(names, ", "))
	}
	if len(parts) == 0 {
		return "no namespace"
	}
	return strings.Join(parts, " and ")
}

// ConflictError says that a live engine already serves a helper.
type ConflictError struct {
	Helper Helper // the helper asked for
	Holder Entry  // the engine serving it
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("helper %s is served by another engine, pid %d in %s",
		e.Helper, e.Holder.PID, e.Holder.NetnsText())
}

// Error is a registry file that could not be made, read or locked.
type Error struct {
	Path string
	Err  error
}

func (e *Error) Error() string {
	// An *fs.PathError repeats the path.
	var pe *fs.PathError
	if errors.As(e.Err, &pe) && pe.Path == e.Path {
		return "engine registry " + e.Path + ": " + pe.Op + ": " + pe.Err.Error()
	}
	return "engine registry " + e.Path + ": " + e.Err.Error()
}
func (e *Error) Unwrap() error { return e.Err }

// Dir is a registry directory.
type Dir struct{ path string }

// Open names a registry directory (made at the first Register).
func Open(path string) *Dir { return &Dir{path: path} }

// Path is the directory.
func (d *Dir) Path() string { return d.path }

// Live lists the running engines, for listings: it takes the lock shared
// and removes nothing. A registry that was never made has no engines.
func (d *Dir) Live() ([]Entry, error) {
	lock, err := d.lock(unix.LOCK_SH, false)
	if err != nil || lock == nil {
		return nil, err
	}
	defer lock.Close()
	return d.entries("", false)
}

// Register records e as the calling engine's entry, unless a live engine
// already serves one of e's helpers (a *ConflictError). The entry stays
// live until Release or the process's death.
func (d *Dir) Register(e Entry) (*Claim, error) {
	lock, err := d.lock(unix.LOCK_EX, true)
	if err != nil {
		return nil, err
	}
	defer lock.Close()
	others, err := d.entries("", true)
	if err != nil {
		return nil, err
	}
	if err := conflict(e, others); err != nil {
		return nil, err
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	path := filepath.Join(d.path, fmt.Sprintf("%d-%s.json", e.PID, hex.EncodeToString(b)))
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL|unix.O_CLOEXEC, 0o644)
	if err != nil {
		return nil, &Error{Path: path, Err: err}
	}
	// Readable by every engine whatever its umask: a listing or a check
	// run by another user reads it.
	_ = f.Chmod(0o644)
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		os.Remove(path)
		return nil, &Error{Path: path, Err: err}
	}
	c := &Claim{d: d, f: f, path: path}
	if err := c.write(e); err != nil {
		c.close()
		return nil, err
	}
	return c, nil
}

// conflict is the first of e's helpers a live engine serves.
func conflict(e Entry, others []Entry) error {
	for _, h := range e.Helpers {
		for _, o := range others {
			if _, ok := o.Serves(h); ok {
				return &ConflictError{Helper: h, Holder: o}
			}
		}
	}
	return nil
}

// lock takes the registry's lock file. With create it makes the
// directory and the file as needed; without, a registry that does not
// exist yields a nil file.
func (d *Dir) lock(how int, create bool) (*os.File, error) {
	path := filepath.Join(d.path, "lock")
	flags := os.O_RDONLY | unix.O_CLOEXEC
	if create {
		if err := os.MkdirAll(d.path, 0o755); err != nil {
			return nil, &Error{Path: d.path, Err: err}
		}
		flags |= os.O_CREATE
	}
	f, err := os.OpenFile(path, flags, 0o644)
	if err != nil {
		if !create && errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, &Error{Path: path, Err: err}
	}
	if create {
		_ = f.Chmod(0o644)
	}
	deadline := time.Now().Add(lockWait)
	for {
		err := unix.Flock(int(f.Fd()), how|unix.LOCK_NB)
		if err == nil {
			return f, nil
		}
		if err != unix.EWOULDBLOCK || time.Now().After(deadline) {
			f.Close()
			if err == unix.EWOULDBLOCK {
				err = fmt.Errorf("held for %s by another engine's start or exit: %w", lockWait, err)
			}
			return nil, &Error{Path: path, Err: err}
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// entries reads the live entries other than the one at self. With
// removeStale (under the exclusive lock), files of dead engines are
// removed.
func (d *Dir) entries(self string, removeStale bool) ([]Entry, error) {
	des, err := os.ReadDir(d.path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, &Error{Path: d.path, Err: err}
	}
	var out []Entry
	for _, de := range des {
		path := filepath.Join(d.path, de.Name())
		if !strings.HasSuffix(de.Name(), ".json") || path == self {
			continue
		}
		e, live, err := readEntry(path)
		if err != nil {
			return nil, err
		}
		if !live {
			if removeStale {
				_ = os.Remove(path)
			}
			continue
		}
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b Entry) int { return a.PID - b.PID })
	return out, nil
}

// readEntry reads one engine's file and whether its engine still holds
// it. A file that vanished meanwhile is not live.
func readEntry(path string) (Entry, bool, error) {
	var e Entry
	f, err := os.OpenFile(path, os.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return e, false, nil
		}
		return e, false, &Error{Path: path, Err: err}
	}
	defer f.Close()
	switch err := unix.Flock(int(f.Fd()), unix.LOCK_SH|unix.LOCK_NB); err {
	case nil:
		return e, false, nil // nobody holds it: its engine is gone
	case unix.EWOULDBLOCK:
	default:
		return e, false, &Error{Path: path, Err: err}
	}
	if err := json.NewDecoder(f).Decode(&e); err != nil {
		return e, false, &Error{Path: path, Err: err}
	}
	return e, true, nil
}

// Claim is the calling engine's entry.
type Claim struct {
	d    *Dir
	f    *os.File
	path string
}

func (c *Claim) write(e Entry) error {
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	if err := c.f.Truncate(0); err != nil {
		return &Error{Path: c.path, Err: err}
	}
	if _, err := c.f.WriteAt(append(b, '\n'), 0); err != nil {
		return &Error{Path: c.path, Err: err}
	}
	return nil
}

func (c *Claim) close() {
	os.Remove(c.path)
	c.f.Close()
}

// Update replaces the entry (a reload, a namespace that came or went),
// unless a live engine serves one of its helpers.
func (c *Claim) Update(e Entry) error {
	lock, err := c.d.lock(unix.LOCK_EX, true)
	if err != nil {
		return err
	}
	defer lock.Close()
	others, err := c.d.entries(c.path, true)
	if err != nil {
		return err
	}
	if err := conflict(e, others); err != nil {
		return err
	}
	return c.write(e)
}

// Release removes the entry. Under the registry's lock it first calls
// cleanup with the other live engines, so that the caller disables only
// what no other engine serves, and no engine can start meanwhile.
func (c *Claim) Release(cleanup func(others []Entry)) error {
	lock, err := c.d.lock(unix.LOCK_EX, true)
	if err == nil {
		defer lock.Close()
	}
	var others []Entry
	if err == nil {
		others, err = c.d.entries(c.path, true)
	}
	if cleanup != nil {
		// Without the registry the cleanup still runs: leaving helpers
		// enabled with nobody serving them is the worse failure.
		cleanup(others)
	}
	c.close()
	return err
}
