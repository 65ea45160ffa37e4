//go:build vmtest

package e2e

import (
	"compress/gzip"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
)

// The .deb that make package built (scripts/vm/suite builds it before the
// VM boots). The VM's root is an overlay that vanishes with it, so dpkg -i
// here leaves the host untouched.
func packageDeb(t *testing.T) string {
	t.Helper()
	debs, _ := filepath.Glob("../../dist/gonfct_*_*.deb")
	if len(debs) != 1 {
		t.Fatalf("want one ../../dist/gonfct_*_*.deb, found %q: make package builds it (make vmtest does)", debs)
	}
	abs, err := filepath.Abs(debs[0])
	if err != nil {
		t.Fatal(err)
	}
	return abs
}

// The environment of an admin's shell: the installed gonfct first (not
// bin/gonfct), a home of its own (no user completions).
func adminEnv(t *testing.T) []string {
	return []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HOME=" + t.TempDir(), "LANG=C.UTF-8",
		"DEBIAN_FRONTEND=noninteractive", "MANWIDTH=80", "MANPAGER=cat", "PAGER=cat"}
}

func adminRun(t *testing.T, name string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = adminEnv(t)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func mustAdmin(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := adminRun(t, name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return out
}

// packageTraces lists what a package could leave behind: the entries of
// every directory it installs into or whose state its scripts touch
// (systemd's enable links, deb-systemd-helper's records, dpkg's own).
func packageTraces(t *testing.T) map[string]bool {
	t.Helper()
	seen := map[string]bool{}
	flat := []string{"/etc", "/usr/sbin", "/usr/lib/systemd/system", "/usr/share/man/man8",
		"/usr/share/bash-completion/completions", "/usr/share/zsh/vendor-completions",
		"/usr/share/fish/vendor_completions.d", "/usr/share/fish", "/usr/share/zsh",
		"/usr/share/doc", "/usr/share/lintian/overrides", "/var/lib/dpkg/info"}
	for _, dir := range flat {
		entries, err := os.ReadDir(dir)
		if err != nil {
			seen[dir+" (missing)"] = true
			continue
		}
		for _, e := range entries {
			seen[filepath.Join(dir, e.Name())] = true
		}
	}
	for _, dir := range []string{"/etc/systemd/system", "/var/lib/systemd/deb-systemd-helper-enabled",
		"/var/lib/systemd/deb-systemd-helper-masked"} {
		filepath.WalkDir(dir, func(path string, _ fs.DirEntry, err error) error {
			if err == nil {
				seen[path] = true
			}
			return nil
		})
	}
	return seen
}

func tracesDiff(before, after map[string]bool) string {
	var diff []string
	for p := range after {
		if !before[p] {
			diff = append(diff, "left behind: "+p)
		}
	}
	for p := range before {
		if !after[p] {
			diff = append(diff, "gone: "+p)
		}
	}
	sort.Strings(diff)
	return strings.Join(diff, "\n")
}

// make package's .deb installs as an admin expects a netfilter tool to:
// the binary in /usr/sbin runs, its man pages render, bash finds its
// completion, zsh and fish theirs, systemd accepts its unit, its example
// config is a conffile; dpkg -r keeps only that conffile, and dpkg -P
// leaves nothing behind, not even the links of an enabled unit.
func TestPackageVM(t *testing.T) {
	deb := packageDeb(t)
	if out, err := adminRun(t, "dpkg-query", "-W", "gonfct"); err == nil {
		t.Fatalf("gonfct is already installed here: %s", out)
	}
	before := packageTraces(t)
	installed := false
	t.Cleanup(func() {
		if installed {
			adminRun(t, "dpkg", "-P", "gonfct")
		}
	})

	t0 := time.Now()
	installed = true
	mustAdmin(t, "dpkg", "-i", deb)
	t.Logf("dpkg -i took %v", time.Since(t0).Round(time.Millisecond))
	t0 = time.Now()

	// What dpkg recorded: the files, with the example config as a conffile.
	files := strings.Fields(mustAdmin(t, "dpkg", "-L", "gonfct"))
	want := []string{"/usr/sbin/gonfct", "/usr/share/man/man8/gonfct.8.gz", "/usr/share/man/man8/gonfct-run.8.gz",
		"/usr/share/bash-completion/completions/gonfct", "/usr/share/zsh/vendor-completions/_gonfct",
		"/usr/share/fish/vendor_completions.d/gonfct.fish", "/usr/lib/systemd/system/gonfct.service",
		"/etc/gonfct/helpers.conf", "/usr/share/doc/gonfct/copyright", "/usr/share/doc/gonfct/changelog.gz"}
	for _, w := range want {
		if !slices.Contains(files, w) {
			t.Errorf("dpkg -L gonfct lacks %s", w)
		}
		if _, err := os.Stat(w); err != nil {
			t.Errorf("installed file: %v", err)
		}
	}
	if conf := mustAdmin(t, "dpkg-query", "-W", "-f", "${Conffiles}", "gonfct"); !strings.Contains(conf, "/etc/gonfct/helpers.conf ") {
		t.Errorf("conffiles: %q, want /etc/gonfct/helpers.conf", conf)
	}
	if out := mustAdmin(t, "dpkg", "--verify", "gonfct"); out != "" {
		t.Errorf("dpkg --verify gonfct (md5sums): %s", out)
	}
	if fi, err := os.Stat("/usr/sbin/gonfct"); err != nil || fi.Mode().Perm() != 0o755 {
		t.Errorf("/usr/sbin/gonfct: %v, mode %v", err, fi.Mode())
	}
	if out := mustAdmin(t, "file", "-L", "/usr/sbin/gonfct"); !strings.Contains(out, "statically linked") {
		t.Errorf("/usr/sbin/gonfct is not static: %s", out)
	}

	// The binary is the one the changelog says was built.
	changelog := gunzip(t, "/usr/share/doc/gonfct/changelog.gz")
	m := regexp.MustCompile(`\(git describe: ([^)]+)\)`).FindStringSubmatch(changelog)
	if m == nil {
		t.Fatalf("changelog names no version:\n%s", changelog)
	}
	if out := mustAdmin(t, "/usr/sbin/gonfct", "--version"); out != "gonfct version "+m[1]+"\n" {
		t.Errorf("gonfct --version: %q, want the changelog's %q", out, m[1])
	}
	debVersion := mustAdmin(t, "dpkg-query", "-W", "-f", "${Version}", "gonfct")
	if !strings.HasPrefix(changelog, "gonfct ("+debVersion+") ") {
		t.Errorf("changelog's first entry is not version %s:\n%s", debVersion, changelog)
	}

	// It works: the shipped config passes the unit's ExecStartPre check,
	// and the helper commands reach the kernel.
	ownHelpers(t)
	mustAdmin(t, "gonfct", "run", "--config", "/etc/gonfct/helpers.conf", "--check")
	mustAdmin(t, "gonfct", "helper", "add", "ftp", "inet", "tcp", "--queue", "3")
	if out := mustAdmin(t, "gonfct", "helper", "list"); !strings.Contains(out, "ftp inet tcp queue=3") {
		t.Errorf("gonfct helper list: %q", out)
	}

	// man finds the installed pages and renders them.
	if out := mustAdmin(t, "man", "-w", "gonfct"); strings.TrimSpace(out) != "/usr/share/man/man8/gonfct.8.gz" {
		t.Errorf("man -w gonfct: %q", out)
	}
	// (man justifies lines: compare words.)
	if out := mustAdmin(t, "man", "8", "gonfct"); !strings.Contains(out, "NAME") ||
		!strings.Contains(strings.Join(strings.Fields(out), " "), "gonfct - User-space conntrack helpers") {
		t.Errorf("man 8 gonfct renders:\n%s", out)
	}
	if out := mustAdmin(t, "man", "gonfct-run"); !strings.Contains(out, "--config") {
		t.Errorf("man gonfct-run renders:\n%s", out)
	}

	// bash-completion loads the script on demand from where the package
	// put it, and it completes commands and subcommands.
	bash := mustAdmin(t, "bash", "-c", `source /usr/share/bash-completion/bash_completion
complete -p gonfct >/dev/null 2>&1 && { echo "loaded before asked"; exit 3; }
__load_completion gonfct || { echo "bash-completion found no completion for gonfct"; exit 4; }
f=$(complete -p gonfct | sed -n 's/.* -F \([^ ]*\) .*/\1/p')
COMP_WORDS=(gonfct he); COMP_CWORD=1; COMP_LINE="gonfct he"; COMP_POINT=${#COMP_LINE}
"$f" gonfct he gonfct 2>/dev/null; echo "${COMPREPLY[*]}"
COMP_WORDS=(gonfct helper li); COMP_CWORD=2; COMP_LINE="gonfct helper li"; COMP_POINT=${#COMP_LINE}
"$f" gonfct li helper 2>/dev/null; echo "${COMPREPLY[*]}"`)
	if lines := strings.Split(strings.TrimSpace(bash), "\n"); len(lines) != 2 ||
		!slices.Contains(strings.Fields(lines[0]), "helper") || strings.TrimSpace(lines[1]) != "list" {
		t.Errorf("bash completes %q, want helper for \"gonfct he\" and list for \"gonfct helper li\"", bash)
	}
	if fish := mustAdmin(t, "fish", "-c", `complete -C "gonfct helper li"`); !strings.HasPrefix(fish, "list\t") {
		t.Errorf("fish completes %q", fish)
	}
	if fpath := mustAdmin(t, "zsh", "-f", "-c", `print -rl -- $fpath`); !slices.Contains(strings.Fields(fpath), "/usr/share/zsh/vendor-completions") {
		t.Errorf("zsh's fpath lacks vendor-completions: %s", fpath)
	}
	mustAdmin(t, "zsh", "-n", "/usr/share/zsh/vendor-completions/_gonfct")

	// systemd accepts the unit (its ExecStart binary and its man pages
	// exist); the admin enables it, offline, as in a chroot.
	if out := mustAdmin(t, "systemd-analyze", "verify", "/usr/lib/systemd/system/gonfct.service"); out != "" {
		t.Errorf("systemd-analyze verify: %s", out)
	}
	if unit, _ := os.ReadFile("/usr/lib/systemd/system/gonfct.service"); !strings.Contains(string(unit), "ExecStart=/usr/sbin/gonfct run --config /etc/gonfct/helpers.conf\n") {
		t.Errorf("the unit does not run /usr/sbin/gonfct:\n%s", unit)
	}
	mustAdmin(t, "systemctl", "enable", "gonfct.service")
	if _, err := os.Lstat("/etc/systemd/system/multi-user.target.wants/gonfct.service"); err != nil {
		t.Errorf("systemctl enable: %v", err)
	}

	t.Logf("using it took %v", time.Since(t0).Round(time.Millisecond))

	// The admin edits the config; dpkg -r keeps it (and only it).
	const edit = "# edited by the admin\n"
	f, err := os.OpenFile("/etc/gonfct/helpers.conf", os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(edit)
	f.Close()
	t0 = time.Now()
	mustAdmin(t, "dpkg", "-r", "gonfct")
	t.Logf("dpkg -r took %v", time.Since(t0).Round(time.Millisecond))
	if st := mustAdmin(t, "dpkg-query", "-W", "-f", "${Status}", "gonfct"); st != "deinstall ok config-files" {
		t.Errorf("after dpkg -r: status %q", st)
	}
	for _, p := range files {
		fi, err := os.Lstat(p)
		switch {
		case p == "/etc/gonfct/helpers.conf" || p == "/etc/gonfct":
			if err != nil {
				t.Errorf("dpkg -r removed the conffile: %v", err)
			}
		case err == nil && !fi.IsDir():
			t.Errorf("dpkg -r left %s", p)
		}
	}
	if conf, _ := os.ReadFile("/etc/gonfct/helpers.conf"); !strings.HasSuffix(string(conf), edit) {
		t.Errorf("dpkg -r did not keep the admin's edit")
	}

	// dpkg -P: nothing left, the edited conffile and the enable link
	// included.
	t0 = time.Now()
	mustAdmin(t, "dpkg", "-P", "gonfct")
	installed = false
	t.Logf("dpkg -P took %v", time.Since(t0).Round(time.Millisecond))
	if out, err := adminRun(t, "dpkg-query", "-W", "gonfct"); err == nil {
		t.Errorf("after dpkg -P dpkg still knows gonfct: %s", out)
	}
	if diff := tracesDiff(before, packageTraces(t)); diff != "" {
		t.Errorf("dpkg -P did not restore the system:\n%s", diff)
	}
}

func gunzip(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	z, err := gzip.NewReader(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	b, err := io.ReadAll(z)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return string(b)
}
