//go:build vmtest

package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The FTP firewall of TestRunFTPEndToEnd, with the client masqueraded
// behind the router as well. Active mode (PORT, EPRT) only works if the
// engine rewrites the client's private address in the command to the
// router's and the expectation follows the master's NAT (the kernel then
// adjusts TCP sequence numbers for the changed length); passive mode needs
// the expectation to match the translated data connection.
const ftpNATRuleset = `
table inet gonfct_fw {
	ct helper ftp-std { type "ftp" protocol tcp; l3proto inet; }
	chain pre {
		type filter hook prerouting priority 0;
		tcp dport 21 ct helper set "ftp-std"
	}
	chain forward_chain {
		type filter hook forward priority 0; policy drop;
		ct state established,related accept
		tcp dport 21 ct state new accept
	}
	chain post {
		type nat hook postrouting priority srcnat;
		oifname "rs" masquerade
	}
}
`

func TestRunFTPThroughNAT(t *testing.T) {
	ownHelpers(t)
	n := newFTPNet(t)
	eng := startRun(t, n.rtr, "--helper", "ftp:inet:tcp:queue=15", "--helper", "ftp:inet6:tcp:queue=16")
	f := filepath.Join(t.TempDir(), "fw.nft")
	os.WriteFile(f, []byte(ftpNATRuleset), 0o644)
	n.rtr.MustRun("nft", "-f", f)

	for _, m := range ftpModes {
		size, curlOut, err := n.download(m, 30)
		if err != nil || size != n.size {
			t.Errorf("%s through masquerade with gonfct run: %d of %d bytes, %v\n%s", m.name, size, n.size, err, curlOut)
			continue
		}
		t.Logf("%s through masquerade with gonfct run: %d bytes", m.name, size)
	}
	// The masquerade really applied: the server saw the router's address.
	ct, _ := n.rtr.Run("conntrack", "-L", "-p", "tcp", "--dport", "21")
	if !strings.Contains(ct, "dst="+rtr4s) {
		t.Errorf("the control connection was not masqueraded:\n%s", ct)
	}

	eng.stop(t)
	for _, m := range ftpModes {
		if size, curlOut, err := n.download(m, 6); err == nil || size == n.size {
			t.Errorf("%s through masquerade succeeded without gonfct run (%d bytes):\n%s", m.name, size, curlOut)
		}
	}
}
