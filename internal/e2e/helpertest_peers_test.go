package e2e

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

type testJSONEvent struct {
	Packet int    `json:"packet"`
	Event  string `json:"event"`
	Expect struct {
		Proto string `json:"proto"`
		Tuple struct {
			Src   string `json:"src"`
			Dst   string `json:"dst"`
			DPort int    `json:"dport"`
		} `json:"tuple"`
		Flags []string `json:"flags"`
	} `json:"expectation"`
}

func helperTestJSON(t *testing.T, helper, pcap string) ([]testJSONEvent, int) {
	t.Helper()
	out, errw, code := gonfctRun("helper", "test", helper, "--pcap", pcap, "-o", "json")
	var evs []testJSONEvent
	if err := json.Unmarshal([]byte(out), &evs); err != nil {
		t.Fatalf("%s: %v\n%s%s", pcap, err, out, errw)
	}
	return evs, code
}

// tcpdumpLine is packet n of a capture as tcpdump prints it.
func tcpdumpLine(t *testing.T, pcap string, n int) string {
	t.Helper()
	out, err := exec.Command("tcpdump", "-nn", "-r", pcap).Output()
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if n > len(lines) {
		t.Fatalf("%s has %d packets", pcap, len(lines))
	}
	return lines[n-1]
}

// rpcbind and rpcinfo (Debian's), recorded by pkg/cthelper/rpc/testdata:
// the port rpcbind answers is expected, over the protocol the client asked
// for, permanently, as conntrackd's rpc helper does; a program rpcbind
// does not know gives no expectation (exit 1).
func TestHelperTestRPCCaptures(t *testing.T) {
	dir := "../../pkg/cthelper/rpc/testdata/"
	for _, c := range []struct {
		pcap, proto, src string
		dport            int
	}{
		{"rpcinfo-getaddr4-tcp.pcap", "tcp", "127.0.0.1", 40001},
		{"rpcinfo-getaddr4-udp.pcap", "udp", "127.0.0.1", 40002},
		{"rpcinfo-getaddr4-tcp6.pcap", "tcp", "::1", 40003},
		{"rpcinfo-getaddr4-udp6.pcap", "udp", "::1", 40004},
	} {
		evs, code := helperTestJSON(t, "rpc", dir+c.pcap)
		if code != 0 || len(evs) != 1 || evs[0].Event != "expect" {
			t.Errorf("%s: exit %d, %+v", c.pcap, code, evs)
			continue
		}
		x := evs[0].Expect
		if x.Proto != c.proto || x.Tuple.Src != c.src || x.Tuple.Dst != c.src || x.Tuple.DPort != c.dport || strings.Join(x.Flags, ",") != "permanent" {
			t.Errorf("%s: expectation %+v", c.pcap, x)
		}
		// The reply that announced the port is the packet reported.
		if line := tcpdumpLine(t, dir+c.pcap, evs[0].Packet); !strings.Contains(line, ".111 > ") {
			t.Errorf("%s: packet %d is not rpcbind's reply: %s", c.pcap, evs[0].Packet, line)
		}
	}
	if evs, code := helperTestJSON(t, "rpc", dir+"rpcinfo-getaddr4-unregistered.pcap"); code != 1 || len(evs) != 0 {
		t.Errorf("unregistered program: exit %d, %+v", code, evs)
	}
}

// tftpd-hpa and tftp-hpa, recorded by pkg/cthelper/tftp/testdata: each
// request expects exactly the server's answer that follows it, from its
// new port back to the client's.
func TestHelperTestTFTPCaptures(t *testing.T) {
	dir := "../../pkg/cthelper/tftp/testdata/"
	for _, pcap := range []string{"rrq4.pcap", "wrq4.pcap", "rrq6.pcap"} {
		evs, code := helperTestJSON(t, "tftp", dir+pcap)
		if code != 0 || len(evs) != 1 || evs[0].Packet != 1 {
			t.Errorf("%s: exit %d, %+v", pcap, code, evs)
			continue
		}
		x := evs[0].Expect.Tuple
		answer := tcpdumpLine(t, dir+pcap, 2) // "IP6? SRC.SPORT > DST.DPORT: UDP ..."
		f := strings.Fields(answer)
		if len(f) < 5 || !strings.HasPrefix(f[2], x.Src+".") || f[4] != x.Dst+"."+itoaInt(x.DPort)+":" {
			t.Errorf("%s: expectation %+v does not match the server's answer %q", pcap, x, answer)
		}
	}
}

func itoaInt(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}
