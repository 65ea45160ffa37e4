//go:build hosttest

package ftp

import (
	"bufio"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gonfct/gonfct/internal/nstest"
	"github.com/gonfct/gonfct/pkg/cthelper"
	"github.com/gonfct/gonfct/pkg/cthelper/internal/pcaptest"
	"github.com/gonfct/gonfct/pkg/ctnetlink"
	"golang.org/x/sys/unix"
)

// The kernel's own FTP helper is the reference: real sessions (curl and
// pyftpdlib) cross a router namespace where nf_conntrack_ftp is attached,
// without NAT, with the client masqueraded, and with the server behind
// DNAT (the client connects to the router's address). The router's traffic on both sides is
// recorded and replayed through this parser, which must ask for the same
// expectations the kernel created (conntrack -E expect) and, under NAT,
// rewrite each line into exactly the bytes the kernel sent on.
func TestAgainstKernelHelper(t *testing.T) {
	for _, mode := range []string{"none", "masquerade", "dnat"} {
		t.Run(mode, func(t *testing.T) { kernelCrossCheck(t, mode) })
	}
}

type kernelExpect struct {
	src, dst    netip.Addr
	dport       uint16
	masterSport uint16
}

func kernelCrossCheck(t *testing.T, mode string) {
	nat := mode != "none"
	cli, rtr, srv := nstest.New(t), nstest.New(t), nstest.New(t)
	link := func(a *nstest.NS, an string, b *nstest.NS, bn string) {
		out, err := exec.Command("ip", "link", "add", an, "netns", a.Name, "type", "veth", "peer", "name", bn, "netns", b.Name).CombinedOutput()
		if err != nil {
			t.Fatalf("veth: %v: %s", err, out)
		}
	}
	link(cli, "c0", rtr, "r0")
	link(srv, "s0", rtr, "r1")
	for _, c := range [][]string{
		{"addr", "add", "10.56.0.2/24", "dev", "c0"}, {"addr", "add", "fd56::2/64", "dev", "c0", "nodad"},
		{"link", "set", "c0", "up"}, {"route", "add", "default", "via", "10.56.0.1"}, {"-6", "route", "add", "default", "via", "fd56::1"},
	} {
		cli.MustRun("ip", c...)
	}
	for _, c := range [][]string{
		{"addr", "add", "10.57.0.2/24", "dev", "s0"}, {"addr", "add", "fd57::2/64", "dev", "s0", "nodad"},
		{"link", "set", "s0", "up"}, {"route", "add", "default", "via", "10.57.0.1"}, {"-6", "route", "add", "default", "via", "fd57::1"},
	} {
		srv.MustRun("ip", c...)
	}
	for _, c := range [][]string{
		{"addr", "add", "10.56.0.1/24", "dev", "r0"}, {"addr", "add", "fd56::1/64", "dev", "r0", "nodad"},
		{"addr", "add", "10.57.0.1/24", "dev", "r1"}, {"addr", "add", "fd57::1/64", "dev", "r1", "nodad"},
		{"link", "set", "r0", "up"}, {"link", "set", "r1", "up"},
	} {
		rtr.MustRun("ip", c...)
	}
	rtr.MustRun("sysctl", "-qw", "net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1")
	rules := `table inet gonfct_ftp_test {
  ct helper ftph { type "ftp" protocol tcp; }
  chain pre { type filter hook prerouting priority filter; tcp dport 21 ct helper set "ftph"; }
`
	switch mode {
	case "masquerade":
		rules += `  chain post { type nat hook postrouting priority srcnat; oifname "r1" masquerade; }
`
	case "dnat":
		rules += `  chain prenat { type nat hook prerouting priority dstnat;
    iifname "r0" meta nfproto ipv4 tcp dport 21 dnat ip to 10.57.0.2
    iifname "r0" meta nfproto ipv6 tcp dport 21 dnat ip6 to fd57::2
  }
`
	}
	rules += "}\n"
	dir := t.TempDir()
	rulesFile := filepath.Join(dir, "rules.nft")
	os.WriteFile(rulesFile, []byte(rules), 0o644)
	rtr.MustRun("nft", "-f", rulesFile)

	pub := filepath.Join(dir, "pub")
	os.Mkdir(pub, 0o755)
	os.WriteFile(filepath.Join(pub, "f.txt"), []byte("gonfct\n"), 0o644)

	server := background(t, srv, "/usr/bin/python3", "-m", "pyftpdlib", "-i", "::", "-p", "21", "-d", pub)
	events := background(t, rtr, "conntrack", "-E", "expect")
	cside, sside := filepath.Join(dir, "c.pcap"), filepath.Join(dir, "s.pcap")
	dumpC := background(t, rtr, "tcpdump", "-i", "r0", "-Z", "root", "--immediate-mode", "-U", "-s", "0", "-w", cside, "tcp port 21")
	dumpS := background(t, rtr, "tcpdump", "-i", "r1", "-Z", "root", "--immediate-mode", "-U", "-s", "0", "-w", sside, "tcp port 21")
	waitFor(t, srv, "ss", []string{"-ltn"}, ":21 ")
	time.Sleep(time.Second) // tcpdump is listening once it has opened its files

	server4, server6 := "10.57.0.2", "[fd57::2]"
	if mode == "dnat" {
		server4, server6 = "10.56.0.1", "[fd56::1]"
	}
	for _, args := range [][]string{
		{"ftp://" + server4 + "/f.txt"},
		{"--disable-epsv", "ftp://" + server4 + "/f.txt"},
		{"-P", "10.56.0.2", "ftp://" + server4 + "/f.txt"},
		{"-P", "10.56.0.2", "--disable-eprt", "ftp://" + server4 + "/f.txt"},
		{"-g", "ftp://" + server6 + "/f.txt"},
		{"-g", "-P", "fd56::2", "ftp://" + server6 + "/f.txt"},
	} {
		out, err := cli.Run("curl", append([]string{"-sS", "--max-time", "5"}, args...)...)
		if nat && len(args) > 2 && args[1] == "-P" && strings.HasPrefix(args[2], "fd56") {
			// Active mode over IPv6 through the kernel's NAT fails: the
			// kernel writes the address in full (fd57:0000:...:0001) and
			// pyftpdlib, comparing it as text with the control
			// connection's peer (fd57::1), answers "501 Rejected data
			// connection to foreign address". The control channel, which
			// is what is compared here, has done its part by then.
			// (gonfct writes the RFC 5952 form, which pyftpdlib accepts.)
			continue
		}
		if err != nil || out != "gonfct\n" {
			t.Fatalf("curl %v: %v %q", args, err, out)
		}
	}
	time.Sleep(300 * time.Millisecond)
	for _, p := range []*exec.Cmd{dumpC, dumpS, events} {
		p.Process.Signal(syscall.SIGINT)
		p.Wait()
	}
	server.Process.Kill()
	server.Wait()

	// The kernel's expectations.
	re := regexp.MustCompile(`\[NEW\] \d+ proto=6 src=(\S+) dst=(\S+) sport=0 dport=(\d+) .* master-src=\S+ master-dst=\S+ sport=(\d+) dport=21 .*helper=ftp`)
	var kernel []kernelExpect
	for _, l := range strings.Split(events.Stdout.(*strings.Builder).String(), "\n") {
		if m := re.FindStringSubmatch(l); m != nil {
			var dport, sport uint16
			fmt.Sscan(m[3], &dport)
			fmt.Sscan(m[4], &sport)
			kernel = append(kernel, kernelExpect{netip.MustParseAddr(m[1]), netip.MustParseAddr(m[2]), dport, sport})
		}
	}
	if len(kernel) != 6 {
		t.Fatalf("the kernel made %d expectations, want 6:\n%s", len(kernel), events.Stdout)
	}

	// Replay: original-direction segments as the client sent them (c
	// side), reply-direction segments as the server sent them (s side),
	// each on the conntrack the kernel had.
	cs, ss := readPcap(t, cside), readPcap(t, sside)
	if len(cs) == 0 || len(ss) == 0 {
		t.Fatalf("tcpdump recorded nothing: %s\n%s", dumpC.Stdout, dumpS.Stdout)
	}
	mine := crossReplay(t, cs, ss, mode)
	if len(mine) != len(kernel) {
		t.Fatalf("parser made %d expectations, the kernel %d", len(mine), len(kernel))
	}
	for i := range kernel {
		if mine[i] != kernel[i] {
			t.Errorf("expectation %d: parser %v, kernel %v", i, mine[i], kernel[i])
		}
	}
}

// crossReplay feeds the two captures of the router through the parser and
// checks every rewrite against what the kernel forwarded.
func crossReplay(t *testing.T, cside, sside []segment, mode string) []kernelExpect {
	nat := mode != "none"
	// Connections in the order their SYNs appear, on each side.
	type side struct {
		client netip.AddrPort
		orig   [][]segment // [dir] payload segments
	}
	group := func(segs []segment) []*side {
		var conns []*side
		byClient := map[netip.AddrPort]*side{}
		for _, s := range segs {
			client := s.src
			d := 0
			if s.src.Port() == 21 {
				client, d = s.dst, 1
			}
			c := byClient[client]
			if c == nil {
				c = &side{client: client, orig: make([][]segment, 2)}
				byClient[client] = c
				conns = append(conns, c)
			}
			if len(s.payload) > 0 {
				c.orig[d] = append(c.orig[d], s)
			}
		}
		return conns
	}
	cc, sc := group(cside), group(sside)
	if len(cc) != len(sc) || len(cc) != 6 {
		t.Fatalf("%d connections on the client side, %d on the server side, want 6", len(cc), len(sc))
	}
	parser, _ := New(nil)
	var out []kernelExpect
	for i := range cc {
		c, s := cc[i], sc[i]
		// The client's view (c side) is the original tuple, the server's
		// (s side) the reply tuple.
		orig := ctnetlink.Tuple{Src: c.client.Addr(), Dst: c.orig[0][0].dst.Addr(), Proto: unix.IPPROTO_TCP, SrcPort: c.client.Port(), DstPort: 21}
		reply := ctnetlink.Tuple{Src: s.orig[0][0].dst.Addr(), Dst: s.client.Addr(), Proto: unix.IPPROTO_TCP, SrcPort: 21, DstPort: s.client.Port()}
		if (mode == "masquerade") == (s.client == c.client) || (mode == "dnat") == (orig.Dst == reply.Src) {
			t.Fatalf("connection %d: %v / %v is not what NAT mode %s makes", i, orig, reply, mode)
		}
		if len(c.orig[0]) != len(s.orig[0]) || len(c.orig[1]) != len(s.orig[1]) {
			t.Fatalf("connection %d: segment counts differ between the sides", i)
		}
		// In time order: [dir][index] with input and output.
		type step struct {
			dir     cthelper.Direction
			in, out segment
		}
		var steps []step
		for k := range c.orig[0] {
			steps = append(steps, step{cthelper.Original, c.orig[0][k], s.orig[0][k]})
		}
		for k := range s.orig[1] {
			steps = append(steps, step{cthelper.Reply, s.orig[1][k], c.orig[1][k]})
		}
		slices.SortFunc(steps, func(a, b step) int { return a.in.ts.Compare(b.in.ts) })
		var priv [PrivLen]byte
		for _, st := range steps {
			info := cthelper.Established
			if st.dir == cthelper.Reply {
				info = cthelper.EstablishedReply
			}
			fam := uint8(unix.AF_INET)
			if orig.Src.Is6() {
				fam = unix.AF_INET6
			}
			p := &cthelper.Packet{Family: fam, Proto: unix.IPPROTO_TCP, Dir: st.dir, Info: info,
				Src: st.in.src.Addr(), Dst: st.in.dst.Addr(), SrcPort: st.in.src.Port(), DstPort: st.in.dst.Port(),
				Seq: st.in.seq, Orig: orig, Reply: reply, Payload: st.in.payload, Priv: priv[:]}
			var r cthelper.Result
			r.Reset()
			if err := parser.Parse(p, &r); err != nil || r.Verdict != cthelper.Accept {
				t.Errorf("%q: %v verdict %d", st.in.payload, err, r.Verdict)
			}
			if got := string(pcaptest.Apply(t, st.in.payload, &r)); !sameLine(got, string(st.out.payload)) {
				t.Errorf("parser turned %q into %q, the kernel into %q", st.in.payload, got, st.out.payload)
			}
			for k := 0; k < r.NExpects; k++ {
				e := r.Expects[k]
				if e.NAT != nat || !e.AnySrcPort || e.Proto != unix.IPPROTO_TCP || e.Class != 0 {
					t.Errorf("expectation %+v", e)
				}
				out = append(out, kernelExpect{e.Src, e.Dst, e.DstPort, c.client.Port()})
			}
		}
	}
	return out
}

// background starts a command in a namespace and stops it at the end of
// the test; its output is collected.
func background(t *testing.T, ns *nstest.NS, name string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns.Name, name}, args...)...)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	return cmd
}

func waitFor(t *testing.T, ns *nstest.NS, name string, args []string, want string) {
	t.Helper()
	for i := 0; i < 100; i++ {
		out, _ := ns.Run(name, args...)
		sc := bufio.NewScanner(strings.NewReader(out))
		for sc.Scan() {
			if strings.Contains(sc.Text(), want) {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s %v never showed %q", name, args, want)
}

// sameLine compares what the parser and the kernel wrote. They write IPv6
// addresses differently (the kernel in full, "fd57:0000:...:0001"; gonfct
// compressed, "fd57::1"): EPRT |2| lines are compared by address.
func sameLine(a, b string) bool {
	if a == b {
		return true
	}
	fa, fb := strings.Split(a, "|"), strings.Split(b, "|")
	if len(fa) != 5 || len(fb) != 5 || fa[0] != "EPRT " || fb[0] != "EPRT " || fa[1] != "2" {
		return false
	}
	aa, err1 := netip.ParseAddr(fa[2])
	ab, err2 := netip.ParseAddr(fb[2])
	return err1 == nil && err2 == nil && aa == ab && fa[1] == fb[1] && fa[3] == fb[3] && fa[4] == fb[4]
}

func (k kernelExpect) String() string {
	return fmt.Sprintf("%s -> %s port %d (master from port %d)", k.src, k.dst, k.dport, k.masterSport)
}
