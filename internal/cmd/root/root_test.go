package root

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gonfct/gonfct/internal/cli"
	"github.com/gonfct/gonfct/internal/cmd/man"
	"github.com/spf13/cobra"
)

// docs/man is what `make man` writes from the command tree; a command or
// flag changed without regenerating it fails here.
func TestManPagesCurrent(t *testing.T) {
	dir := t.TempDir()
	n, err := man.GenPages(newDocRoot(), dir)
	if err != nil {
		t.Fatal(err)
	}
	fresh, _ := filepath.Glob(filepath.Join(dir, "*.8"))
	kept, _ := filepath.Glob("../../../docs/man/*.8")
	if len(fresh) != n {
		t.Errorf("GenPages says %d pages, wrote %d", n, len(fresh))
	}
	names := func(ps []string) []string {
		out := make([]string, len(ps))
		for i, p := range ps {
			out[i] = filepath.Base(p)
		}
		return out
	}
	if !slices.Equal(names(fresh), names(kept)) {
		t.Fatalf("docs/man is stale (run `make man`): pages %v, want %v", names(kept), names(fresh))
	}
	for _, p := range fresh {
		want, _ := os.ReadFile(p)
		got, err := os.ReadFile(filepath.Join("../../../docs/man", filepath.Base(p)))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("docs/man/%s is stale: run `make man`", filepath.Base(p))
		}
	}
}

// Every command a user can run shows examples in its --help and man page.
func TestEveryCommandHasExamples(t *testing.T) {
	root := NewCmdRoot(&cli.Env{Out: io.Discard, Err: io.Discard}, "")
	var walk func(*cobra.Command)
	walk = func(c *cobra.Command) {
		if c.IsAvailableCommand() || c == root {
			if strings.TrimSpace(c.Example) == "" {
				t.Errorf("%q has no Example", c.CommandPath())
			}
		}
		for _, s := range c.Commands() {
			walk(s)
		}
	}
	walk(root)
}
