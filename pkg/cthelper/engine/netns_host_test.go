//go:build hosttest

package engine

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gonfct/gonfct/internal/nstest"
	"github.com/gonfct/gonfct/pkg/nfq"
)

// Namespaces are found by name, by path and in a directory, each once;
// a file with no namespace mounted on it is skipped in a directory and an
// error when named; a namespace held open keeps being reachable after
// its name is deleted.
func TestNetnsScan(t *testing.T) {
	a, b := nstest.New(t), nstest.New(t)
	dir := t.TempDir()
	link := filepath.Join(dir, "b-again")
	bind(t, b.Path(), link)
	os.WriteFile(filepath.Join(dir, "not-mounted"), nil, 0o644)

	found, missing, unsettled := nsSources{a.Name, a.Path(), dir}.scan()
	if len(missing) != 0 {
		t.Fatalf("missing %v", missing)
	}
	if !unsettled {
		t.Error("a file with no namespace mounted on it yet: not unsettled")
	}
	names := nsNames(found)
	if len(found) != 2 || names[0] != a.Name || names[1] != link {
		t.Fatalf("found %v, want %s (once) and %s", names, a.Name, link)
	}
	if f := (nsSources{dir}).follows(); len(f) != 1 || f[0] != dir {
		t.Errorf("follows %v", f)
	}

	_, missing, _ = nsSources{"gonfct-no-such-ns", filepath.Join(dir, "not-mounted"), "/proc/self/ns/mnt"}.scan()
	if len(missing) != 2 || !strings.Contains(missing[0].Error(), "/run/netns/gonfct-no-such-ns: no such file") ||
		!strings.Contains(missing[1].Error(), "not-mounted: not a namespace file (nothing is mounted on it)") {
		t.Errorf("missing %v", missing)
	}
	mnt, _, _ := (nsSources{"/proc/self/ns/mnt"}).scan()
	if _, err := openNetns(mnt[0]); err == nil || !strings.Contains(err.Error(), "not a network namespace") {
		t.Errorf("a mount namespace opened as a network namespace: %v", err)
	}

	// Held open, a namespace stays reachable under its own identity.
	found, _, _ = nsSources{a.Name}.scan()
	fd, err := openNetns(found[0])
	if err != nil {
		t.Fatal(err)
	}
	defer fd.Close()
	dial := dialVia(fd)
	if out, err := exec.Command("umount", link).CombinedOutput(); err != nil {
		t.Fatalf("umount: %v %s", err, out)
	}
	if found, _, _ := (nsSources{dir}).scan(); len(found) != 0 {
		t.Errorf("after umount the directory still has %v", nsNames(found))
	}
	c, err := dial()
	if err != nil {
		t.Fatal(err)
	}
	q, err := nfq.Bind(c, nfq.Config{Num: 7})
	if err != nil {
		t.Fatalf("bind a queue through the held namespace: %v", err)
	}
	defer q.Close()
	// The queue is bound in a, not in b.
	if _, err := nfq.Bind(a.Dial(), nfq.Config{Num: 7}); err == nil {
		t.Errorf("queue 7 bound twice in %s", a.Name)
	}
	if _, err := nfq.Bind(b.Dial(), nfq.Config{Num: 7}); err != nil {
		t.Errorf("queue 7 in %s: %v", b.Name, err)
	}
}

func bind(t *testing.T, src, dst string) {
	t.Helper()
	if err := os.WriteFile(dst, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "--bind", src, dst).CombinedOutput(); err != nil {
		t.Fatalf("mount --bind %s %s: %v %s", src, dst, err, out)
	}
	t.Cleanup(func() { exec.Command("umount", dst).Run() })
}
