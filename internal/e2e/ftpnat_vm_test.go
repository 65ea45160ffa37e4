//go:build vmtest

package e2e

import (
	"strings"
	"testing"
	"time"
)

// The FTP firewall of TestRunFTPEndToEnd, with the client masqueraded
// behind the router as well. Active mode (PORT, EPRT) only works if the
// engine rewrites the client's private address in the command to the
// router's and the expectation follows the master's NAT (the kernel then
// adjusts TCP sequence numbers for the changed length); passive mode needs
// the expectation to match the translated data connection.
func TestRunFTPThroughNAT(t *testing.T) {
	ownHelpers(t)
	n := newFTPNet(t)
	eng := startRun(t, n.rtr, "--helper", "ftp:inet:tcp:queue=15", "--helper", "ftp:inet6:tcp:queue=16")
	n.loadNATRuleset(t)

	for _, m := range ftpModes {
		size, curlOut, err := n.download(m, 30)
		if err != nil || size != n.size {
			t.Errorf("%s through masquerade with gonfct run: %d of %d bytes, %v\n%s", m.name, size, n.size, err, curlOut)
			continue
		}
		t.Logf("%s through masquerade with gonfct run: %d bytes", m.name, size)
	}
	// The masquerade really applied: the server saw the router's address,
	// over IPv4 and IPv6, on the control connections and, in active mode,
	// the data connections went to it.
	for _, re := range []string{
		ctTuple(cli4, srv4, "21") + ctTuple(srv4, rtr4s, ""), ctTuple(cli6, srv6, "21") + ctTuple(srv6, rtr6s, ""),
		ctTuple(srv4, rtr4s, "") + ctTuple(cli4, srv4, ""), ctTuple(srv6, rtr6s, "") + ctTuple(cli6, srv6, ""),
	} {
		if ok, ct := conntrackMatch(n.rtr, re); !ok {
			t.Errorf("no conntrack matching %s: not masqueraded\n%s", re, ct)
		}
	}

	eng.stop(t)
	for _, m := range ftpModes {
		if size, curlOut, err := n.download(m, 6); err == nil || size == n.size {
			t.Errorf("%s through masquerade succeeded without gonfct run (%d bytes):\n%s", m.name, size, curlOut)
		}
	}
}

// ftpHoldPy logs in from a fixed address and port and keeps the control
// connection open: the master of an expectation another client's PORT
// will clash with.
const ftpHoldPy = `
import socket, sys, time
c = socket.create_connection((sys.argv[1], 21), timeout=10, source_address=(sys.argv[2], int(sys.argv[3])))
f = c.makefile("rb")
f.readline()
for cmd in ("USER anonymous", "PASS x@y"):
    c.sendall(cmd.encode() + b"\r\n"); f.readline()
print("held", flush=True)
time.sleep(120)
`

// Two clients behind one masquerade announcing the same port: the second
// one's expectation would have the first one's tuple. The engine moves it
// to the next free port and rewrites the command to announce that one, as
// the kernel's nf_nat_ftp does; the data connection to it is translated
// back to the port the client listens on.
func TestRunFTPNATPortClash(t *testing.T) {
	ownHelpers(t)
	n := newFTPNet(t)
	const cli4b = "10.78.1.3"
	n.cli.MustRun("ip", "addr", "add", cli4b+"/24", "dev", "cr")
	eng := startRun(t, n.rtr, "--helper", "ftp:inet:tcp:queue=17")
	n.loadNATRuleset(t)

	// The first client's control connection, and the expectation its
	// "PORT ...,195,80" made behind the masquerade: from the server to
	// the router's outside address, port 50000.
	daemon(t, n.cli, "/usr/bin/python3", "-c", ftpHoldPy, srv4, cli4, "41000")
	deadline := time.Now().Add(20 * time.Second)
	for {
		ct, _ := n.rtr.Run("conntrack", "-L", "-p", "tcp", "--orig-port-src", "41000", "--state", "ESTABLISHED")
		if strings.Contains(ct, "helper=ftp") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the first client's control connection is not established with the ftp helper:\n%s", ct)
		}
		time.Sleep(200 * time.Millisecond)
	}
	planted := "tcp " + srv4 + " " + rtr4s + " 0 50000"
	if out, errw, code := gonfct(t, "--netns", n.rtr.Name, "expect", "add", "--master", "tcp "+cli4+" "+srv4+" 41000 21",
		"--tuple", planted, "--mask", "255.255.255.255 255.255.255.255 0 65535"); code != 0 {
		t.Fatalf("expect add: exit %d\n%s%s", code, out, errw)
	}

	for _, m := range []ftpMode{
		{"ipv4 PORT", []string{"--interface", cli4b, "-P", cli4b + ":50000", "--disable-eprt", "ftp://" + srv4 + "/file.bin"}},
		{"ipv4 EPRT", []string{"--interface", cli4b, "-P", cli4b + ":50000", "ftp://" + srv4 + "/file.bin"}},
	} {
		n.rtr.Run("conntrack", "-D", "-p", "tcp", "--orig-port-dst", "50001")
		size, curlOut, err := n.download(m, 30)
		if err != nil || size != n.size {
			t.Errorf("%s from the second client with port 50000 taken: %d of %d bytes, %v\n%s\nexpectations:\n%s",
				m.name, size, n.size, err, curlOut, expectations(n.rtr))
			continue
		}
		// The server connected to port 50001, translated to the port the
		// client listened on.
		if ct, _ := n.rtr.Run("conntrack", "-L", "-p", "tcp", "--orig-port-dst", "50001"); !strings.Contains(ct, "src="+cli4b) ||
			!strings.Contains(ct, "sport=50000") {
			t.Errorf("%s: no data connection to port 50001 translated to %s port 50000:\n%s", m.name, cli4b, ct)
		}
	}
	// The first client's expectation is untouched.
	if e := expectations(n.rtr); !strings.Contains(e, "dport=50000") || !strings.Contains(e, "master-src="+cli4) {
		t.Errorf("the first client's expectation is gone:\n%s", e)
	}
	eng.stop(t)
}
