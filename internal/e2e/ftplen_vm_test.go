//go:build vmtest

package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// downloadTwice downloads the mode's file twice with one curl, on one
// control connection (curl says it re-uses it): the commands after the
// first transfer cross the stream a rewrite may have shifted. It reports
// the sizes received and curl's verbose output.
func (n *ftpNet) downloadTwice(m ftpMode, maxTime int, extra ...string) ([]int, string) {
	url := m.args[len(m.args)-1]
	args := []string{"-sS", "-v", "--max-time", fmt.Sprint(maxTime), "-w", "size %{size_download}\n", "-o", "/dev/null", "-o", "/dev/null"}
	args = append(append(append(args, extra...), m.args...), url)
	out, _ := n.cli.Run("curl", args...)
	var sizes []int
	for _, l := range strings.Split(out, "\n") {
		var size int
		if _, err := fmt.Sscanf(l, "size %d", &size); err == nil {
			sizes = append(sizes, size)
		}
	}
	return sizes, out
}

// ftpTwiceOK checks both downloads and that the second re-used the
// control connection.
func (n *ftpNet) ftpTwiceOK(t *testing.T, what string, sizes []int, out string) bool {
	t.Helper()
	if len(sizes) != 2 || sizes[0] != n.size || sizes[1] != n.size || !strings.Contains(out, "Re-using existing connection") {
		t.Errorf("%s: sizes %v of %d, or the control connection not re-used:\n%s", what, sizes, n.size, out)
		return false
	}
	return true
}

// FTP through NAT whose addresses change length: behind the masquerade
// the client's PORT and EPRT name 10.1.1.2 / fd00:1::2 and are rewritten
// to the router's 203.0.113.254 / 2001:db8:113::fe (longer); with the
// server published on the router's addresses (destination NAT), its 227
// names 203.0.113.5 and is rewritten to the 10.1.1.1 the client dialled
// (shorter). Each time the same control connection then carries a second
// transfer.
func TestRunFTPThroughLengthChangingNAT(t *testing.T) {
	ownHelpers(t)
	a := lenAddrs
	n := newFTPNetAt(t, a)
	eng := startRun(t, n.rtr, "--helper", "ftp:inet:tcp:queue=18", "--helper", "ftp:inet6:tcp:queue=19")

	n.firewallNAT(t, ftpObjects, ftpAssign, ftpAllow, masquerade)
	snatModes := []ftpMode{
		{"ipv4 PORT", []string{"-P", "-", "--disable-eprt", "ftp://" + a.srv4 + "/file.bin"}},
		{"ipv4 EPRT", []string{"-P", "-", "ftp://" + a.srv4 + "/file.bin"}},
		{"ipv6 EPRT", []string{"-g", "-P", "-", "ftp://[" + a.srv6 + "]/file.bin"}},
		{"ipv4 PASV", []string{"--ftp-pasv", "--disable-epsv", "ftp://" + a.srv4 + "/file.bin"}},
		{"ipv6 EPSV", []string{"-g", "--ftp-pasv", "ftp://[" + a.srv6 + "]/file.bin"}},
	}
	for _, m := range snatModes {
		sizes, out := n.downloadTwice(m, 40)
		n.ftpTwiceOK(t, m.name+" through the masquerade with gonfct run", sizes, out)
	}
	// The server saw the router's addresses: the control connections were
	// masqueraded, and the active data connections went to the router's
	// address, translated back to the client.
	for _, re := range []string{
		ctTuple(a.cli4, a.srv4, "21") + ctTuple(a.srv4, a.rtr4s, ""), ctTuple(a.cli6, a.srv6, "21") + ctTuple(a.srv6, a.rtr6s, ""),
		ctTuple(a.srv4, a.rtr4s, "") + ctTuple(a.cli4, a.srv4, ""), ctTuple(a.srv6, a.rtr6s, "") + ctTuple(a.cli6, a.srv6, ""),
	} {
		if ok, ct := conntrackMatch(n.rtr, re); !ok {
			t.Errorf("no conntrack matching %s: the masquerade did not apply\n%s", re, ct)
		}
	}

	n.rtr.MustRun("nft", "delete", "table", "inet", "gonfct_fw")
	n.rtr.MustRun("conntrack", "-F")
	n.firewallNAT(t, ftpObjects, ftpAssign, ftpAllow, dnatChain(a, "tcp dport 21"))
	// curl takes the 227's address only when told to (by default it
	// connects to the control connection's).
	dnatModes := []ftpMode{
		{"ipv4 PASV", []string{"--ftp-pasv", "--disable-epsv", "--no-ftp-skip-pasv-ip", "ftp://" + a.rtr4c + "/file.bin"}},
		{"ipv4 EPSV", []string{"--ftp-pasv", "ftp://" + a.rtr4c + "/file.bin"}},
		{"ipv6 EPSV", []string{"-g", "--ftp-pasv", "ftp://[" + a.rtr6c + "]/file.bin"}},
	}
	for _, m := range dnatModes {
		sizes, out := n.downloadTwice(m, 40)
		if n.ftpTwiceOK(t, m.name+" through DNAT with gonfct run", sizes, out) && m.name == "ipv4 PASV" {
			pasv := "< 227 entering passive mode (" + strings.ReplaceAll(a.rtr4c, ".", ",") + ","
			if strings.Count(strings.ToLower(out), pasv) != 2 {
				t.Errorf("%s through DNAT: the 227 replies were not rewritten to %s:\n%s", m.name, a.rtr4c, out)
			}
		}
	}
	for _, re := range []string{ctTuple(a.cli4, a.rtr4c, "21") + ctTuple(a.srv4, a.cli4, ""), ctTuple(a.cli6, a.rtr6c, "21") + ctTuple(a.srv6, a.cli6, "")} {
		if ok, ct := conntrackMatch(n.rtr, re); !ok {
			t.Errorf("no conntrack matching %s: the destination NAT did not apply\n%s", re, ct)
		}
	}

	eng.stop(t)
	n.rtr.MustRun("conntrack", "-F")
	for _, m := range append(dnatModes[:1], dnatModes[2]) {
		if sizes, out := n.downloadTwice(m, 8); len(sizes) > 0 && sizes[0] == n.size {
			t.Errorf("%s through DNAT succeeded without gonfct run:\n%s", m.name, out)
		}
	}
}

// ftpForeignPy is pyftpdlib on port 21 of argv[1] serving argv[2], with
// PORT to an address other than the client's allowed (it refuses such
// "FTP bounce" by default).
const ftpForeignPy = `
import sys
from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import FTPHandler
from pyftpdlib.servers import FTPServer
auth = DummyAuthorizer(); auth.add_anonymous(sys.argv[2])
FTPHandler.authorizer = auth
FTPHandler.permit_foreign_addresses = True
FTPServer((sys.argv[1], 21), FTPHandler).serve_forever()
`

// ftpThirdPartyPy logs in to argv[1] and has the server send file.bin to
// a listener on argv[2] (an address of the client's host other than the
// one the control connection comes from) with PORT.
const ftpThirdPartyPy = `
import socket, sys
c = socket.create_connection((sys.argv[1], 21), timeout=10, source_address=(sys.argv[3], 0))
f = c.makefile("rb")
def reply():
    line = f.readline()
    while line[3:4] == b"-":
        line = f.readline()
    return line.decode().strip()
reply()
for cmd in ("USER anonymous", "PASS x@y", "TYPE I"):
    c.sendall(cmd.encode() + b"\r\n"); reply()
ls = socket.socket(); ls.bind((sys.argv[2], 0)); ls.listen(1); ls.settimeout(10)
port = ls.getsockname()[1]
c.sendall(("PORT %s,%d,%d\r\n" % (sys.argv[2].replace(".", ","), port >> 8, port & 255)).encode())
try:
    # pyftpdlib connects to the address at once and answers when connected
    print("PORT:", reply())
    c.sendall(b"RETR file.bin\r\n")
    d, _ = ls.accept(); n = 0
    while True:
        b = d.recv(65536)
        if not b: break
        n += len(b)
    print("received %d bytes" % n)
except OSError as e:
    print("no data connection:", e)
`

// ftp's loose=yes on a kernel: a PORT naming another host than the
// client's own (here another address of the client's host) makes an
// expectation, and lets the server's data connection through the
// firewall, only with loose=yes.
func TestRunFTPLoose(t *testing.T) {
	ownHelpers(t)
	n := newRoutedNet(t)
	const third = "10.79.1.3"
	n.cli.MustRun("ip", "addr", "add", third+"/24", "dev", "cr")
	dir := t.TempDir()
	n.srv.MustRun("sh", "-c", "head -c 100000 /dev/urandom > "+dir+"/file.bin")
	daemon(t, n.srv, "/usr/bin/python3", "-c", ftpForeignPy, psrv4, dir)
	waitListenFor(t, n.srv, "t", "21", 1, 120*time.Second)
	bounce := func() string {
		out, _ := n.cli.Run("timeout", "-s", "KILL", "30", "/usr/bin/python3", "-c", ftpThirdPartyPy, psrv4, third, pcli4)
		return out
	}
	for i, c := range []struct {
		opts string
		ok   bool
	}{{"", false}, {":loose=yes", true}} {
		eng := startRun(t, n.rtr, "--helper", "ftp:inet:tcp:queue=20"+c.opts)
		if i == 0 {
			n.firewall(t, ftpObjects, ftpAssign, ftpAllow) // the helper exists now
		}
		start := time.Now()
		out := bounce()
		if got := strings.Contains(out, "received 100000 bytes"); got != c.ok {
			t.Errorf("third-party PORT with ftp%s: data connection through %v, want %v:\n%s\nexpectations:\n%s", c.opts, got, c.ok, out, expectations(n.rtr))
		} else {
			t.Logf("third-party PORT with ftp%s: data connection through %v in %v", c.opts, got, time.Since(start).Round(time.Millisecond))
		}
		eng.stop(t)
		n.rtr.MustRun("conntrack", "-F")
	}
}

// ftpPrivilegedPy is pyftpdlib on port 21 of argv[1] serving argv[2],
// connecting to data ports below 1024 (it refuses them by default).
const ftpPrivilegedPy = `
import sys
from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import FTPHandler
from pyftpdlib.servers import FTPServer
auth = DummyAuthorizer(); auth.add_anonymous(sys.argv[2])
FTPHandler.authorizer = auth
FTPHandler.permit_privileged_ports = True
FTPServer((sys.argv[1], 21), FTPHandler).serve_forever()
`

// ftpFromPortPy logs in to argv[1] from argv[2], listens on argv[2] port
// argv[3] and has the server send file.bin there, announced with PORT
// (IPv4) or EPRT (IPv6); it prints the bytes received.
const ftpFromPortPy = `
import socket, sys
host, me, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
fam = socket.AF_INET6 if ":" in host else socket.AF_INET
c = socket.create_connection((host, 21), timeout=10)
f = c.makefile("rb")
def reply():
    line = f.readline()
    while line[3:4] == b"-":
        line = f.readline()
    return line.decode().strip()
reply()
for cmd in ("USER anonymous", "PASS x@y", "TYPE I"):
    c.sendall(cmd.encode() + b"\r\n"); reply()
ls = socket.socket(fam); ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind((me, port)); ls.listen(1); ls.settimeout(10)
if fam == socket.AF_INET:
    c.sendall(("PORT %s,%d,%d\r\n" % (me.replace(".", ","), port >> 8, port & 255)).encode())
else:
    c.sendall(("EPRT |2|%s|%d|\r\n" % (me, port)).encode())
try:
    print("announce:", reply())
    c.sendall(b"RETR file.bin\r\n")
    d, _ = ls.accept(); n = 0
    while True:
        b = d.recv(65536)
        if not b: break
        n += len(b)
    print("received %d bytes" % n)
except OSError as e:
    print("no data connection:", e)
`

// ftp's low-ports=yes on a kernel: a client announcing data port 1000
// (PORT over IPv4, EPRT over IPv6) gets the server's data connection
// through the firewall only with low-ports=yes; a port above 1023 passes
// either way.
func TestRunFTPLowPorts(t *testing.T) {
	ownHelpers(t)
	n := newRoutedNet(t)
	dir := t.TempDir()
	n.srv.MustRun("sh", "-c", "head -c 100000 /dev/urandom > "+dir+"/file.bin")
	for _, addr := range []string{psrv4, psrv6} {
		daemon(t, n.srv, "/usr/bin/python3", "-c", ftpPrivilegedPy, addr, dir)
	}
	waitListenFor(t, n.srv, "t", "21", 2, 120*time.Second)
	for i, c := range []struct {
		opts string
		low  bool
	}{{"", false}, {":low-ports=yes", true}} {
		eng := startRun(t, n.rtr, "--helper", "ftp:inet:tcp:queue=115"+c.opts, "--helper", "ftp:inet6:tcp:queue=116"+c.opts)
		if i == 0 {
			n.firewall(t, ftpObjects, ftpAssign, ftpAllow) // the helper exists now
		}
		for _, p := range []struct {
			port string
			ok   bool
		}{{"1000", c.low}, {"41000", true}} {
			for _, f := range [][2]string{{psrv4, pcli4}, {psrv6, pcli6}} {
				out, _ := n.cli.Run("timeout", "-s", "KILL", "30", "/usr/bin/python3", "-c", ftpFromPortPy, f[0], f[1], p.port)
				if got := strings.Contains(out, "received 100000 bytes"); got != p.ok {
					t.Errorf("data port %s to %s with ftp%s: data connection through %v, want %v:\n%s\nexpectations:\n%s", p.port, f[1], c.opts, got, p.ok, out, expectations(n.rtr))
				}
			}
		}
		eng.stop(t)
		n.rtr.MustRun("conntrack", "-F")
	}
}
