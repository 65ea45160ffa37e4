package builtin

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

// The README's table of built-in helpers must show every helper with its
// current defaults.
func TestReadmeListsEveryHelper(t *testing.T) {
	b, err := os.ReadFile("../../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	for _, name := range Registry.Names() {
		s, _ := Registry.Lookup(name)
		p := s.Policies[0]
		row := fmt.Sprintf("| %s | ", name)
		cell := fmt.Sprintf("| %s / %d / %d | %d |", p.Name, p.ExpectMax, p.ExpectTimeout, s.PrivLen)
		i := strings.Index(readme, row)
		if i < 0 {
			t.Errorf("README lists no helper %s", name)
			continue
		}
		line := readme[i : i+strings.IndexByte(readme[i:], '\n')]
		if !strings.Contains(line, cell) {
			t.Errorf("README row %q lacks the defaults %q", line, cell)
		}
	}
}
