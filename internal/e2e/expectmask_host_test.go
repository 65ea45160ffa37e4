//go:build hosttest

package e2e

import (
	"strings"
	"testing"

	"github.com/gonfct/gonfct/internal/nstest"
)

// connectFrom opens a TCP connection from src to dst:port inside the
// namespace (nothing listens: the SYN is all the kernel needs to look up
// expectations) and waits for the refusal.
func connectFrom(t *testing.T, ns *nstest.NS, src, dst, port string) {
	t.Helper()
	script := `import socket,sys
s=socket.socket()
s.settimeout(10)
s.bind((sys.argv[1],0))
try:
    s.connect((sys.argv[2],int(sys.argv[3])))
except ConnectionRefusedError:
    pass
`
	ns.MustRun("/usr/bin/python3", "-c", script, src, dst, port)
}

// expectCount is `gonfct expect count` in ns.
func expectCount(t *testing.T, ns *nstest.NS) string {
	t.Helper()
	return strings.TrimSpace(mustExpectRun(t, ns, "expect", "count").out)
}

// TestExpectMaskMatchesInKernel proves issue 19's defects 1 and 2 on this
// kernel: the masks gonfct sends are the masks the kernel keeps, and they
// decide which connections the kernel takes as expected. Loopback in a
// namespace is enough: a SYN from 127.0.0.3 to 127.0.0.1:50000 passes
// conntrack, which looks up (and consumes) a matching expectation.
func TestExpectMaskMatchesInKernel(t *testing.T) {
	ns := nstest.New(t)
	ns.MustRun("ip", "link", "set", "lo", "up")
	// conntrack sees a namespace's packets only once a rule uses it.
	ns.MustRun("nft", "add table inet gonfct_t; add chain inet gonfct_t out { type filter hook output priority 0; }; add rule inet gonfct_t out ct state new counter")
	newMasterCT(t, ns, "tcp 127.0.0.1 127.0.0.2 40000 21", "ftp")
	add := func(mask ...string) expectResult {
		args := []string{"expect", "add", "--master", "tcp 127.0.0.1 127.0.0.2 40000 21", "--tuple", "tcp 127.0.0.2 127.0.0.1 0 50000"}
		r := mustExpectRun(t, ns, append(args, mask...)...)
		return r
	}
	line := func() string {
		return strings.Join(expectNoTimeout(mustExpectRun(t, ns, "expect", "list").out), "\n")
	}

	// Defect 2: without --mask, source port 0 means any port (mask 0), so
	// the expectation can match at all; the source address stays exact.
	add()
	if l := line(); !strings.Contains(l, "mask-src=255.255.255.255 mask-dst=255.255.255.255 sport=0 dport=65535") {
		t.Errorf("default mask in the kernel: %q, want source port mask 0", l)
	}
	connectFrom(t, ns, "127.0.0.3", "127.0.0.1", "50000")
	if n := expectCount(t, ns); n != "1" {
		t.Errorf("a connection from 127.0.0.3 consumed the expectation for 127.0.0.2 (count %s)", n)
	}
	connectFrom(t, ns, "127.0.0.2", "127.0.0.1", "50000")
	if n := expectCount(t, ns); n != "0" {
		t.Errorf("the expected connection from 127.0.0.2 (any port) did not match: %s expectations left", n)
	}

	// Defect 1: a prefix length is a mask. src=/32 keeps the source exact.
	add("--mask", "src=/32")
	if l := line(); !strings.Contains(l, "mask-src=255.255.255.255 ") {
		t.Errorf("--mask src=/32 in the kernel: %q", l)
	}
	connectFrom(t, ns, "127.0.0.3", "127.0.0.1", "50000")
	if n := expectCount(t, ns); n != "1" {
		t.Errorf("--mask src=/32: a connection from 127.0.0.3 matched (count %s)", n)
	}
	mustExpectRun(t, ns, "expect", "flush")

	// src=/24 widens the source to 127.0.0.0/24: 127.0.0.3 now matches.
	add("--mask", "src=/24")
	if l := line(); !strings.Contains(l, "mask-src=255.255.255.0 ") {
		t.Errorf("--mask src=/24 in the kernel: %q", l)
	}
	connectFrom(t, ns, "127.0.0.3", "127.0.0.1", "50000")
	if n := expectCount(t, ns); n != "0" {
		t.Errorf("--mask src=/24: a connection from 127.0.0.3 did not match (count %s)", n)
	}

	// The old documented form put an address into the mask: the kernel
	// ANDs bit by bit, so 127.0.0.3 & 127.0.0.2 == 127.0.0.2 lets the
	// wrong source in. gonfct sends what it is given but warns.
	r := add("--mask", "src=127.0.0.2 sport=0")
	if !strings.Contains(r.err, "warning: --mask src=127.0.0.2 is not a contiguous prefix") {
		t.Errorf("address as mask: stderr %q, want the warning", r.err)
	}
	connectFrom(t, ns, "127.0.0.3", "127.0.0.1", "50000")
	if n := expectCount(t, ns); n != "0" {
		t.Errorf("the kernel did not AND the mask as documented (count %s): the warning's reason is gone", n)
	}
}
