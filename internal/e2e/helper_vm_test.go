//go:build vmtest

package e2e

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

// gonfct runs one command line in-process and returns stdout, stderr and
// the exit status.
func gonfct(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var out, errw bytes.Buffer
	code := run(args, nil, &out, &errw)
	return out.String(), errw.String(), code
}

func mustGonfct(t *testing.T, args ...string) string {
	t.Helper()
	out, errw, code := gonfct(t, args...)
	if code != 0 {
		t.Fatalf("gonfct %s: exit %d: %s", strings.Join(args, " "), code, errw)
	}
	return out
}

func sh(t *testing.T, name string, args ...string) (string, error) {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	return string(out), err
}

// nfctBlocks parses `nfct list helper` into name/family/proto → block.
func nfctHelpers(t *testing.T) map[string]map[string]string {
	t.Helper()
	out, err := sh(t, "nfct", "list", "helper")
	if err != nil {
		t.Fatalf("nfct list helper: %v: %s", err, out)
	}
	res := map[string]map[string]string{}
	var cur map[string]string
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "{":
			cur = map[string]string{}
		case line == "};":
			res[cur["name"]+"/"+cur["l3protonum"]+"/"+cur["l4protonum"]] = cur
		case strings.HasPrefix(line, "."):
			k, v, _ := strings.Cut(strings.TrimPrefix(line, "."), " = ")
			cur[k] = strings.TrimSuffix(v, ",")
		}
	}
	return res
}

type jsonHelper struct {
	Name     string `json:"name"`
	Family   string `json:"family"`
	Protocol string `json:"protocol"`
	Queue    int    `json:"queue"`
	Status   string `json:"status"`
	PrivLen  int    `json:"priv_data_len"`
	Policies []struct {
		Name          string `json:"name"`
		ExpectMax     int    `json:"expect_max"`
		ExpectTimeout int    `json:"expect_timeout"`
	} `json:"policies"`
}

func listJSON(t *testing.T) []jsonHelper {
	t.Helper()
	var hs []jsonHelper
	if err := json.Unmarshal([]byte(mustGonfct(t, "helper", "list", "-o", "json")), &hs); err != nil {
		t.Fatal(err)
	}
	return hs
}

// Every helper command against Debian's 6.1 kernel, each listing
// cross-checked with nfct.
func TestHelperLifecycleVM(t *testing.T) {
	mustGonfct(t, "helper", "flush")
	t.Cleanup(func() { gonfct(t, "helper", "flush") })

	mustGonfct(t, "helper", "add", "rpc", "inet", "tcp")
	mustGonfct(t, "add", "helper", "rpc", "inet", "udp", "--queue", "2", "--policy", "rpc:1:300") // nfct word order
	mustGonfct(t, "helper", "add", "steam", "inet", "udp", "--queue", "7", "--policy", "steam:8:30", "--priv-len", "0", "--enable")
	mustGonfct(t, "helper", "add", "sip4", "inet6", "udp", "--policy", "signalling:1:180", "--policy", "audio:4:180",
		"--policy", "video:4:180", "--policy", "image:2:180")

	hs := listJSON(t)
	if len(hs) != 4 {
		t.Fatalf("list shows %d helpers, want 4: %+v", len(hs), hs)
	}
	nf := nfctHelpers(t)
	for _, h := range hs {
		l3 := map[string]string{"inet": "2", "inet6": "10"}[h.Family]
		l4 := map[string]string{"tcp": "6", "udp": "17"}[h.Protocol]
		b, ok := nf[h.Name+"/"+l3+"/"+l4]
		if !ok {
			t.Errorf("nfct does not list %s %s %s", h.Name, h.Family, h.Protocol)
			continue
		}
		if b["queuenum"] != itoa(h.Queue) || b["priv_data_len"] != itoa(h.PrivLen) || b["status"] != h.Status {
			t.Errorf("%s: gonfct %+v, nfct %v", h.Name, h, b)
		}
	}
	// nfct-format output is nfct's own.
	ours := mustGonfct(t, "helper", "get", "steam", "-o", "nfct")
	theirs, _ := sh(t, "nfct", "get", "helper", "steam", "inet", "udp")
	if ours != theirs {
		t.Errorf("-o nfct:\n%s\nnfct get helper:\n%s", ours, theirs)
	}
	for _, h := range hs {
		if h.Name == "sip4" && (len(h.Policies) != 4 || h.Policies[1].Name != "audio" || h.Policies[1].ExpectMax != 4) {
			t.Errorf("sip4 policies %+v", h.Policies)
		}
		if h.Name == "steam" && (h.Status != "enabled" || h.Queue != 7 || h.Policies[0].ExpectTimeout != 30) {
			t.Errorf("steam %+v", h)
		}
		if h.Name == "rpc" && h.Family == "inet" && h.Protocol == "tcp" && (h.Status != "disabled" || h.PrivLen != 16 || h.Queue != 0) {
			t.Errorf("rpc tcp defaults %+v", h)
		}
	}

	// update, enable, disable
	mustGonfct(t, "helper", "update", "rpc", "inet", "udp", "--policy", "rpc:2", "--queue", "5")
	mustGonfct(t, "helper", "enable", "rpc", "inet", "udp")
	out := mustGonfct(t, "helper", "get", "rpc", "inet", "udp")
	if out != "rpc inet udp queue=5 enabled priv-len=16 policy=rpc:2:300\n" {
		t.Errorf("after update+enable: %q", out)
	}
	if b := nfctHelpers(t)["rpc/2/17"]; b["queuenum"] != "5" || b["status"] != "enabled" {
		t.Errorf("nfct after update: %v", b)
	}
	mustGonfct(t, "helper", "disable", "rpc", "inet", "udp")
	if b := nfctHelpers(t)["rpc/2/17"]; b["status"] != "disabled" {
		t.Errorf("nfct after disable: %v", b)
	}
	if out := mustGonfct(t, "helper", "get", "rpc"); strings.Count(out, "\n") != 2 {
		t.Errorf("get rpc (both protocols): %q", out)
	}
	if out := mustGonfct(t, "helper", "list", "-o", "table"); !strings.Contains(out, "POLICIES") || !strings.Contains(out, "steam:8:30") {
		t.Errorf("table: %s", out)
	}

	// EEXIST without --replace, then --replace with a new private-data length.
	_, errw, code := gonfct(t, "helper", "add", "steam", "inet", "udp", "--policy", "steam:8:30")
	if code != 1 || !strings.Contains(errw, "EEXIST") || !strings.Contains(errw, "--replace") {
		t.Errorf("add of an existing helper: exit %d, %q", code, errw)
	}
	mustGonfct(t, "helper", "add", "steam", "inet", "udp", "--policy", "steam:4:60", "--priv-len", "8", "--replace")
	if out := mustGonfct(t, "helper", "get", "steam"); out != "steam inet udp queue=0 disabled priv-len=8 policy=steam:4:60\n" {
		t.Errorf("after --replace: %q", out)
	}

	// delete by name and family, then by name
	mustGonfct(t, "helper", "delete", "rpc", "inet", "udp")
	if _, ok := nfctHelpers(t)["rpc/2/17"]; ok {
		t.Error("rpc inet udp still listed by nfct after delete")
	}
	mustGonfct(t, "helper", "delete", "rpc")
	_, errw, code = gonfct(t, "helper", "get", "rpc")
	if code != 1 || !strings.Contains(errw, "ENOENT") {
		t.Errorf("get of a deleted helper: exit %d, %q", code, errw)
	}
	mustGonfct(t, "helper", "flush")
	if n := len(nfctHelpers(t)); n != 0 {
		t.Errorf("nfct lists %d helpers after flush", n)
	}
}

// The errors a kernel can produce, each with its message and exit status.
func TestHelperErrorsVM(t *testing.T) {
	mustGonfct(t, "helper", "flush")
	t.Cleanup(func() { gonfct(t, "helper", "flush") })

	// A kernel helper of the same name: EBUSY on add.
	if out, err := sh(t, "modprobe", "nf_conntrack_irc"); err != nil {
		t.Fatalf("modprobe nf_conntrack_irc: %v: %s", err, out)
	}
	t.Cleanup(func() { sh(t, "modprobe", "-r", "nf_conntrack_irc") })
	_, errw, code := gonfct(t, "helper", "add", "irc", "inet", "tcp", "--policy", "irc:1:300")
	if code != 1 || !strings.Contains(errw, "kernel helper named \"irc\"") || !strings.Contains(errw, "modprobe -r") {
		t.Errorf("add irc with nf_conntrack_irc loaded: exit %d, %q", code, errw)
	}

	// A helper referenced by a ruleset: EBUSY on delete, flush keeps it.
	mustGonfct(t, "helper", "add", "rpc", "inet", "udp")
	if out, err := sh(t, "iptables", "-t", "raw", "-A", "PREROUTING", "-p", "udp", "--dport", "111", "-j", "CT", "--helper", "rpc"); err != nil {
		t.Fatalf("iptables CT --helper rpc: %v: %s", err, out)
	}
	_, errw, code = gonfct(t, "helper", "delete", "rpc")
	if code != 1 || !strings.Contains(errw, "EBUSY") || !strings.Contains(errw, "in use by a ruleset") {
		t.Errorf("delete of a helper in use: exit %d, %q", code, errw)
	}
	_, errw, code = gonfct(t, "helper", "flush")
	if code != 1 || !strings.Contains(errw, "kept 1 in use: rpc inet udp") {
		t.Errorf("flush with a helper in use: exit %d, %q", code, errw)
	}
	if out, err := sh(t, "iptables", "-t", "raw", "-F", "PREROUTING"); err != nil {
		t.Fatalf("iptables -F: %v: %s", err, out)
	}
	mustGonfct(t, "helper", "delete", "rpc")

	// update cannot change what the kernel keeps fixed
	mustGonfct(t, "helper", "add", "ftpx", "inet", "tcp", "--policy", "ftpx:1:300")
	_, errw, code = gonfct(t, "helper", "update", "ftpx", "inet", "tcp", "--policy", "other:1:1")
	if code != 1 || !strings.Contains(errw, "cannot add or rename policies") {
		t.Errorf("update with a new policy name: exit %d, %q", code, errw)
	}
	_, errw, code = gonfct(t, "helper", "update", "nosuch", "inet", "tcp", "--queue", "1")
	if code != 1 || !strings.Contains(errw, "ENOENT") || !strings.Contains(errw, "no such user-space helper: see `gonfct helper list`") {
		t.Errorf("update of a missing helper: exit %d, %q", code, errw)
	}
	// The library says what happened; the command adds what to do.
	_, errw, code = gonfct(t, "helper", "add", "ftpx", "inet", "tcp", "--policy", "ftpx:1:300")
	if code != 1 || !strings.Contains(errw, "EEXIST file exists: it exists already: change it with `gonfct helper update`, or give --replace") {
		t.Errorf("add of an existing helper: exit %d, %q", code, errw)
	}
	// limits are refused before anything is sent: exit 2, nothing changed
	before := mustGonfct(t, "helper", "list")
	for _, args := range [][]string{
		{"helper", "add", "sixteen-byte-nam", "inet", "tcp", "--policy", "x:1:1"},
		{"helper", "add", "x", "inet", "tcp", "--policy", "a:1:1", "--policy", "b:1:1", "--policy", "c:1:1", "--policy", "d:1:1", "--policy", "e:1:1"},
		{"helper", "add", "x", "inet", "tcp", "--policy", "x:256:1"},
		{"helper", "add", "x", "inet", "tcp", "--policy", "x:1:1", "--priv-len", "33"},
		{"helper", "add", "x", "ipx", "tcp", "--policy", "x:1:1"},
		{"helper", "add", "x", "inet", "sctp", "--policy", "x:1:1"},
	} {
		_, errw, code := gonfct(t, args...)
		if code != 2 || strings.Count(errw, "\n") != 1 {
			t.Errorf("%q: exit %d, %q; want exit 2 and one line", args, code, errw)
		}
	}
	if after := mustGonfct(t, "helper", "list"); after != before {
		t.Errorf("refused commands changed the kernel:\nbefore %q\nafter  %q", before, after)
	}
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}
