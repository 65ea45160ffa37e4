package e2e

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const ftpPcap = "../../pkg/cthelper/replay/testdata/ftp.pcap"

func gonfctRun(args ...string) (string, string, int) {
	var out, errw bytes.Buffer
	code := run(args, nil, &out, &errw)
	return out.String(), errw.String(), code
}

func TestHelperTestRun(t *testing.T) {
	out, errw, code := gonfctRun("helper", "test", "ftp", "--pcap", ftpPcap)
	if code != 0 || strings.Count(out, "\n") != 6 || !strings.HasPrefix(out, "packet 14 expect: 300 proto=6 src=10.56.0.2 dst=10.56.0.1 sport=0 dport=36907 ") {
		t.Errorf("exit %d\n%s%s", code, out, errw)
	}
	if !strings.Contains(errw, "ftp: 251 packets, 6 flows to port 21") || !strings.Contains(errw, "6 expectations") {
		t.Errorf("summary %q", errw)
	}

	// JSON: one object per event, the expectation as `expect list -o json`.
	out, _, code = gonfctRun("helper", "test", "ftp", "--pcap", ftpPcap, "--port", "2121", "-o", "json")
	var evs []struct {
		Packet int    `json:"packet"`
		Event  string `json:"event"`
		Flow   struct {
			Dir   string `json:"direction"`
			SPort int    `json:"sport"`
		} `json:"flow"`
		Expect struct {
			Tuple struct {
				DPort int `json:"dport"`
			} `json:"tuple"`
			Helper string `json:"helper"`
		} `json:"expectation"`
	}
	if err := json.Unmarshal([]byte(out), &evs); err != nil || code != 0 {
		t.Fatalf("json: exit %d, %v\n%s", code, err, out)
	}
	if len(evs) != 1 || evs[0].Packet != 228 || evs[0].Event != "expect" || evs[0].Flow.Dir != "reply" || evs[0].Flow.SPort != 2121 ||
		evs[0].Expect.Tuple.DPort != 41805 || evs[0].Expect.Helper != "ftp" {
		t.Errorf("json events %+v", evs)
	}

	// --expect: the count decides the exit status.
	if _, errw, code := gonfctRun("helper", "test", "ftp", "--pcap", ftpPcap, "--expect", "6"); code != 0 {
		t.Errorf("--expect 6: exit %d %s", code, errw)
	}
	if _, errw, code := gonfctRun("helper", "test", "ftp", "--pcap", ftpPcap, "--expect", "5"); code != 1 || !strings.Contains(errw, "gonfct: 6 expectations, --expect 5") {
		t.Errorf("--expect 5: exit %d %q", code, errw)
	}
	if _, errw, code := gonfctRun("helper", "test", "ftp", "--pcap", ftpPcap, "--port", "2222"); code != 1 || !strings.Contains(errw, "no ftp flow to port 2222") {
		t.Errorf("no flow: exit %d %q", code, errw)
	}
	// pcapng and Linux cooked v2
	if out, errw, code := gonfctRun("helper", "test", "ftp", "--pcap", "../../pkg/cthelper/replay/testdata/ftp-any.pcapng", "--expect", "2"); code != 0 || strings.Count(out, " expect: ") != 2 {
		t.Errorf("pcapng: exit %d\n%s%s", code, out, errw)
	}
}

// Malformed and truncated captures: a one-line error naming the file and
// the damage, exit 2 as for every bad input file (docs/migration.md); what
// came before the damage is still replayed.
func TestHelperTestBadCaptures(t *testing.T) {
	dir := t.TempDir()
	pcap, err := os.ReadFile(ftpPcap)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cut := write("cut.pcap", pcap[:len(pcap)/2])
	text := write("notes.txt", []byte("these are notes, not a capture\n"))
	empty := write("empty.pcap", nil)

	out, errw, code := gonfctRun("helper", "test", "ftp", "--pcap", cut)
	if code != 2 || !strings.Contains(errw, "cut.pcap: malformed capture: file truncated in packet ") || !strings.Contains(errw, "were replayed") ||
		!strings.Contains(out, "packet 14 expect") || strings.Count(strings.TrimSpace(errw), "\n") != 1 {
		t.Errorf("truncated: exit %d\n%s%s", code, out, errw)
	}
	for _, f := range []string{text, empty} {
		out, errw, code := gonfctRun("helper", "test", "ftp", "--pcap", f)
		if code != 2 || out != "" || !strings.Contains(errw, "not a pcap or pcapng file") || strings.Count(errw, "\n") != 1 {
			t.Errorf("%s: exit %d\n%s%s", f, code, out, errw)
		}
	}
	if _, errw, code := gonfctRun("helper", "test", "ftp", "--pcap", filepath.Join(dir, "missing.pcap")); code != 2 || !strings.Contains(errw, "no such file") {
		t.Errorf("missing file: exit %d %q", code, errw)
	}
}
