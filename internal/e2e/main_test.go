package e2e

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gonfct/gonfct/internal/cmd/root"
)

// TestMain lets the test binary stand in for gonfct itself when a test
// runs it as a program (the completion scripts call "gonfct __complete").
func TestMain(m *testing.M) {
	if os.Getenv("GONFCT_TEST_AS_MAIN") == "1" {
		os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// gonfctOnPath puts a "gonfct" that is this test binary first on PATH.
func gonfctOnPath(t *testing.T) []string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.Symlink(self, filepath.Join(dir, "gonfct")); err != nil {
		t.Fatal(err)
	}
	return append(os.Environ(), "GONFCT_TEST_AS_MAIN=1", "PATH="+dir+":"+os.Getenv("PATH"), "HOME="+dir)
}

// The scripts complete for real in bash and fish, and zsh parses its own.
func TestCompletionInShells(t *testing.T) {
	env := gonfctOnPath(t)
	shell := func(name string, args ...string) string {
		t.Helper()
		if _, err := exec.LookPath(name); err != nil {
			t.Fatalf("%s not found: install it (scripts/deps)", name)
		}
		cmd := exec.Command(name, args...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s %q: %v\n%s", name, args, err, out)
		}
		return string(out)
	}
	// As in an interactive shell: bash-completion first, then the script.
	bash := shell("bash", "-c", `source /usr/share/bash-completion/bash_completion
source <(gonfct completion bash)
COMP_WORDS=(gonfct helper a); COMP_CWORD=2; COMP_LINE="gonfct helper a"; COMP_POINT=${#COMP_LINE}
__start_gonfct 2>/dev/null; echo "${COMPREPLY[@]}"
COMP_WORDS=(gonfct rules ftp --ipt); COMP_CWORD=3; COMP_LINE="gonfct rules ftp --ipt"; COMP_POINT=${#COMP_LINE}
__start_gonfct 2>/dev/null; echo "${COMPREPLY[@]}"`)
	if lines := strings.Split(strings.TrimSpace(bash), "\n"); len(lines) != 2 || strings.TrimSpace(lines[0]) != "add" || strings.TrimSpace(lines[1]) != "--iptables" {
		t.Errorf("bash completes %q", bash)
	}
	fish := shell("fish", "--no-config", "-c", `gonfct completion fish | source; complete -C "gonfct helper a"; complete -C "gonfct ti"`)
	if !strings.Contains(fish, "add\tCreate a helper object") || !strings.Contains(fish, "timeout\t") {
		t.Errorf("fish completes %q", fish)
	}
	dir := t.TempDir()
	zsh := filepath.Join(dir, "_gonfct")
	var out, errw bytes.Buffer
	if code := run([]string{"completion", "zsh"}, nil, &out, &errw); code != 0 {
		t.Fatal(errw.String())
	}
	os.WriteFile(zsh, out.Bytes(), 0o644)
	shell("zsh", "-n", zsh)
}

func TestCompletionScripts(t *testing.T) {
	for _, shell := range []string{"bash", "zsh", "fish"} {
		var out, errw bytes.Buffer
		if code := run([]string{"completion", shell}, nil, &out, &errw); code != 0 {
			t.Fatalf("completion %s: exit %d: %s", shell, code, errw.String())
		}
		if !strings.Contains(out.String(), "gonfct") || out.Len() < 1000 {
			t.Errorf("completion %s printed %d bytes: %.200q", shell, out.Len(), out.String())
		}
		if shell == "bash" {
			cmd := exec.Command("bash", "-n")
			cmd.Stdin = &out
			if msg, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("bash -n on the bash completion: %v: %s", err, msg)
			}
		}
	}
	// All three scripts ask the binary itself (`gonfct __complete ...`)
	// what may come next.
	var out, errw bytes.Buffer
	run([]string{"__complete", "helper", "a"}, nil, &out, &errw)
	if !strings.Contains(out.String(), "add\t") {
		t.Errorf("__complete helper a: %q", out.String())
	}
	out.Reset()
	run([]string{"__complete", "rules", "--i"}, nil, &out, &errw)
	if !strings.Contains(out.String(), "--iptables") {
		t.Errorf("__complete rules --i: %q", out.String())
	}
	var o2, e2 bytes.Buffer
	if code := run([]string{"completion", "tcsh"}, nil, &o2, &e2); code != 2 {
		t.Errorf("completion tcsh: exit %d, want 2: %s", code, e2.String())
	}
	o2.Reset()
	e2.Reset()
	if code := run([]string{"completion", "bash", "-o", "json"}, nil, &o2, &e2); code != 2 || o2.Len() != 0 || !strings.Contains(e2.String(), "-o json does not apply") {
		t.Errorf("completion bash -o json: exit %d, stdout %d bytes, stderr %q; want a usage error", code, o2.Len(), e2.String())
	}
}

// run executes one command line in this process, as the binary would.
func run(args []string, in io.Reader, out, errw io.Writer) int { return root.Run(args, in, out, errw) }
