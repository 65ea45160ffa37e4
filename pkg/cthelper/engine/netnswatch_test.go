package engine

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestDirWatchSeesEntriesComeAndGo(t *testing.T) {
	dir := t.TempDir()
	w := newDirWatch()
	if w == nil {
		t.Fatal("inotify refused")
	}
	defer w.close()
	if wait := w.plan([]string{dir}, false, time.Second); wait != netnsRecheck {
		t.Fatalf("a watched directory: wait %v, want %v", wait, netnsRecheck)
	}
	expectChange := func(what string) {
		t.Helper()
		select {
		case <-w.changed:
		case <-time.After(5 * time.Second):
			t.Fatalf("no change seen after %s", what)
		}
	}
	f := filepath.Join(dir, "tenant-a")
	if err := os.WriteFile(f, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	expectChange("a file was made")
	// An entry that is no namespace yet (ip netns add makes the file,
	// then mounts on it) keeps the watcher looking every netnsSettle.
	if _, _, unsettled := nsSources([]string{dir}).scan(); !unsettled {
		t.Fatal("a plain file in a followed directory: not unsettled")
	}
	if wait := w.plan([]string{dir}, true, time.Second); wait != netnsSettle {
		t.Fatalf("unsettled: wait %v, want %v", wait, netnsSettle)
	}
	if err := os.Remove(f); err != nil {
		t.Fatal(err)
	}
	expectChange("a file was removed")
	select {
	case <-w.changed:
		t.Fatal("a change reported with nothing changed")
	case <-time.After(100 * time.Millisecond):
	}
}

func TestDirWatchPollsWhatInotifyCannotSee(t *testing.T) {
	w := newDirWatch()
	if w == nil {
		t.Fatal("inotify refused")
	}
	defer w.close()
	const poll = 250 * time.Millisecond
	for _, words := range [][]string{
		{"/proc/1/ns/net"}, // procfs raises no events
		{filepath.Join(t.TempDir(), "not-yet", "tenants/")}, // a directory that is not there
		{t.TempDir(), "/proc/self/ns/net"},                  // one word that needs the clock is enough
	} {
		if wait := w.plan(words, false, poll); wait != poll {
			t.Errorf("%q: wait %v, want the poll period %v", words, wait, poll)
		}
	}
	var none *dirWatch // inotify refused: poll
	if wait := none.plan([]string{t.TempDir()}, false, poll); wait != poll {
		t.Errorf("without inotify: wait %v, want %v", wait, poll)
	}
}
