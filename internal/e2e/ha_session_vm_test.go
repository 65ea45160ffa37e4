//go:build vmtest

package e2e

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gonfct/gonfct/internal/nstest"
)

// The peers of the HA tests (ha_vm_test.go): the FTP server, and the
// scripted clients that hold one connection through failover and failback.

// haServerPy is pyftpdlib serving a directory anonymously, waiting long
// for passive data connections (one is announced before a failover and
// used after it). It logs the addresses it sees to the file argv[4], one
// line each: "control ADDR" for a control connection, "pasv ADDR" for a
// passive data connection, "port ADDR" for the address of a PORT or EPRT.
const haServerPy = `
import sys
from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import FTPHandler, PassiveDTP
from pyftpdlib.servers import FTPServer
log = open(sys.argv[4], "a", buffering=1)
class Passive(PassiveDTP):
    timeout = int(sys.argv[3])
    def handle_accepted(self, sock, addr):
        log.write("pasv %s\n" % addr[0])
        return PassiveDTP.handle_accepted(self, sock, addr)
class Handler(FTPHandler):
    passive_dtp = Passive
    timeout = 900
    def on_connect(self):
        log.write("control %s\n" % self.remote_ip)
    def _make_eport(self, ip, port):
        log.write("port %s\n" % ip)
        return FTPHandler._make_eport(self, ip, port)
a = DummyAuthorizer()
a.add_anonymous(sys.argv[2])
Handler.authorizer = a
FTPServer((sys.argv[1], 21), Handler).serve_forever()
`

// haClientPy holds ONE FTP control connection to argv[1] (from the address
// argv[2] if given) and runs the transfers it is told on stdin, one line
// each, answering "ok BYTES" or "err WHY":
//
//	pasv, port       ftplib's own way: TYPE I, then PASV or PORT, RETR
//	pasv-bare        PASV and RETR, no command before: the 227 reply is the
//	                 first segment the firewall sees in that direction
//	hold             PASV only: the server's data port stays expected
//	use-held         connect to the held port, RETR
//	timeout SECONDS  for what follows
const haClientPy = `
import ftplib, socket, sys
ftp = ftplib.FTP(timeout=20)
ftp.connect(sys.argv[1], 21, source_address=(sys.argv[2], 0) if len(sys.argv) > 2 else None)
ftp.login()
held = None
def drain(conn):
    n = 0
    with conn:
        while True:
            b = conn.recv(65536)
            if not b:
                break
            n += len(b)
    ftp.voidresp()
    return n
print("ready", flush=True)
for line in sys.stdin:
    w = line.split()
    try:
        n = 0
        if w[0] == "timeout":
            ftp.timeout = float(w[1])
            ftp.sock.settimeout(float(w[1]))
        elif w[0] == "hold":
            held = ftplib.parse227(ftp.sendcmd("PASV"))
        elif w[0] == "use-held":
            conn = socket.create_connection(held, timeout=ftp.timeout, source_address=ftp.source_address)
            ftp.sendcmd("RETR file.bin")
            n = drain(conn)
        else:
            ftp.set_pasv(w[0].startswith("pasv"))
            if not w[0].endswith("-bare"):
                ftp.voidcmd("TYPE I")
            n = drain(ftp.transfercmd("RETR file.bin"))
        print("ok", n, flush=True)
    except Exception as e:
        print("err", type(e).__name__, e, flush=True)
`

// sessionClient is a script in the client namespace that holds one
// connection and runs the commands it reads, one line each, answering one
// line each (haClientPy, haRPCClientPy).
type sessionClient struct {
	in    io.WriteCloser
	lines chan string
}

func (n *haNet) startServer(t *testing.T) {
	dir := t.TempDir()
	data := make([]byte, n.size)
	for i := range data {
		data[i] = byte(i * 7)
	}
	if err := os.WriteFile(filepath.Join(dir, "file.bin"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	n.srvLog = filepath.Join(t.TempDir(), "ftp-peers.log")
	daemon(t, n.srv, "/usr/bin/python3", "-c", haServerPy, haSrv, dir, strconv.Itoa(haPassiveTimeout), n.srvLog)
	deadline := time.Now().Add(120 * time.Second)
	for {
		out, _ := n.srv.Run("ss", "-Hltn", "sport", "= :21")
		if strings.Contains(out, "LISTEN") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the FTP server does not listen on port 21")
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func (n *haNet) startClient(t *testing.T) *sessionClient {
	return n.startClientFrom(t, haCli)
}

// startClientFrom is startClient with the control connection (and the
// data connections) from the client's address src.
func (n *haNet) startClientFrom(t *testing.T, src string) *sessionClient {
	return startSessionClient(t, n.cli, "FTP client "+src, haClientPy, haSrv, src)
}

// startSessionClient runs the python3 script in ns and waits for its
// "ready" line.
func startSessionClient(t *testing.T, ns *nstest.NS, what, script string, args ...string) *sessionClient {
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns.Name, "/usr/bin/python3", "-c", script}, args...)...)
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	errw := &syncBuffer{}
	cmd.Stderr = errw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &sessionClient{in: in, lines: make(chan string, 16)}
	go func() {
		s := bufio.NewScanner(out)
		for s.Scan() {
			c.lines <- s.Text()
		}
		close(c.lines)
	}()
	t.Cleanup(func() {
		in.Close()
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() && errw.String() != "" {
			t.Logf("%s stderr:\n%s", what, errw.String())
		}
	})
	if got := c.next(t, 120*time.Second); got != "ready" {
		t.Fatalf("%s: %q", what, got)
	}
	return c
}

func (c *sessionClient) next(t *testing.T, d time.Duration) string {
	t.Helper()
	select {
	case l, ok := <-c.lines:
		if !ok {
			t.Fatal("the session client exited")
		}
		return l
	case <-time.After(d):
		t.Fatalf("the session client did not answer within %v", d)
	}
	return ""
}

// do runs one client command and returns its answer.
func (c *sessionClient) do(t *testing.T, cmd string) string {
	t.Helper()
	fmt.Fprintln(c.in, cmd)
	return c.next(t, 120*time.Second)
}

// transfer runs one transfer on the held control connection and fails the
// test unless the whole file arrived.
func (n *haNet) transfer(t *testing.T, c *sessionClient, via, cmd string) {
	t.Helper()
	if got, want := c.do(t, cmd), fmt.Sprintf("ok %d", n.size); got != want {
		t.Errorf("%s through %s: %s, want %s", cmd, via, got, want)
		return
	}
	t.Logf("%s through %s: %d bytes", cmd, via, n.size)
}

// transferHeld uses the data connection announced before the takeover,
// and shows what the new master had if that fails.
func (n *haNet) transferHeld(t *testing.T, c *sessionClient, f *haFirewall, via string) {
	t.Helper()
	if got, want := c.do(t, "use-held"), fmt.Sprintf("ok %d", n.size); got != want {
		ext, _ := f.ns.Run("conntrackd", "-C", f.conntrackdConf(), "-e", "expect")
		ct, _ := f.ns.Run("conntrack", "-L")
		t.Errorf("use-held through %s: %s, want %s\nexpectations now:\n%s\nconntrackd external expectations:\n%s\nconntracks:\n%s",
			via, got, want, expectations(f.ns), ext, ct)
		return
	}
	t.Logf("use-held through %s: %d bytes", via, n.size)
}
