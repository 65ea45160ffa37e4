//go:build vmtest

package engine_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/gonfct/gonfct/internal/nstest"
	"github.com/gonfct/gonfct/pkg/cthelper"
	"github.com/gonfct/gonfct/pkg/cthelper/engine"
	"github.com/gonfct/gonfct/pkg/ctnetlink"
	"github.com/gonfct/gonfct/pkg/ctnl"
	"github.com/ti-mo/netfilter"
	"golang.org/x/sys/unix"
)

// toyParser is a line protocol made for these tests: the server's
// "OPEN <port>" opens a data connection back to it on that port and the
// next (two expectations from one packet), "PANIC" makes the
// parser panic, "DROP" drops the packet; every packet with payload is
// counted in private data byte 0.
type toyParser struct{}

func (toyParser) Parse(p *cthelper.Packet, r *cthelper.Result) error {
	if len(p.Payload) == 0 {
		return nil
	}
	p.Priv[0]++
	r.PrivChanged = true
	line := string(bytes.TrimSpace(p.Payload))
	switch {
	case line == "PANIC":
		panic("toy parser told to panic")
	case line == "DROP":
		r.Verdict = cthelper.Drop
	case p.Dir == cthelper.Reply && strings.HasPrefix(line, "OPEN "):
		port, err := strconv.ParseUint(line[5:], 10, 16)
		if err != nil {
			return err
		}
		for i := range uint16(2) {
			r.AddExpect(cthelper.Expect{Proto: unix.IPPROTO_TCP, Src: p.Dst, Dst: p.Src, AnySrcPort: true, DstPort: uint16(port) + i})
		}
	}
	return nil
}

const (
	toyName  = "gtest"
	toyQueue = 3
	srvAddr  = "10.77.0.1"
	cliAddr  = "10.77.0.2"
)

// pair is a client and a server namespace joined by a veth pair; the
// server's firewall lets in new connections to port 7000 only, and
// established or related ones.
type pair struct {
	cli, srv *nstest.NS
}

func newPair(t *testing.T) *pair {
	p := &pair{cli: nstest.New(t), srv: nstest.New(t)}
	veth := "gv" + p.srv.Name[len(p.srv.Name)-6:]
	p.srv.MustRun("ip", "link", "add", veth+"s", "type", "veth", "peer", "name", veth+"c", "netns", p.cli.Name)
	p.srv.MustRun("ip", "addr", "add", srvAddr+"/24", "dev", veth+"s")
	p.srv.MustRun("ip", "link", "set", veth+"s", "up")
	p.cli.MustRun("ip", "addr", "add", cliAddr+"/24", "dev", veth+"c")
	p.cli.MustRun("ip", "link", "set", veth+"c", "up")
	return p
}

// ruleset assigns the helper and filters; it needs the helper object to
// exist, so it is loaded after the engine started.
const ruleset = `
table ip gtest {
	ct helper toy { type "` + toyName + `" protocol tcp; }
	chain pre {
		type filter hook prerouting priority 0;
		tcp dport 7000 ct helper set "toy"
	}
	chain in {
		type filter hook input priority 0; policy drop;
		ct state established,related accept
		tcp dport 7000 ct state new accept
		iifname "lo" accept
	}
}
`

func (p *pair) loadRuleset(t *testing.T) {
	t.Helper()
	f := t.TempDir() + "/ruleset.nft"
	if err := os.WriteFile(f, []byte(ruleset), 0o644); err != nil {
		t.Fatal(err)
	}
	p.srv.MustRun("nft", "-f", f)
}

const serverPy = `
import socket, sys
def listen(port):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", port)); s.listen(4); s.settimeout(15)
    return s
ctl, data = listen(7000), listen(7100)
print("ready", flush=True)
c, _ = ctl.accept()
c.settimeout(10)
got = c.recv(100)
c.sendall(b"OPEN 7100\n")
try:
    d, _ = data.accept(); d.sendall(b"DATA\n"); d.close()
except Exception as e:
    print("server: no data connection:", e)
c.recv(100)
`

const clientPy = `
import socket, sys
c = socket.create_connection(("` + srvAddr + `", 7000), timeout=5)
c.sendall(sys.argv[1].encode() + b"\n")
line = c.recv(100)
if not line.startswith(b"OPEN "):
    print("client: control:", line); sys.exit(3)
try:
    d = socket.create_connection(("` + srvAddr + `", int(line[5:])), timeout=3)
    print(d.recv(100).decode().strip())
except Exception as e:
    print("client: data connection failed:", e); sys.exit(4)
c.sendall(b"BYE\n")
`

// exchange runs one control + data exchange; it reports whether the data
// connection got through.
func (p *pair) exchange(t *testing.T, first string) (bool, string) {
	t.Helper()
	srv := exec.Command("ip", "netns", "exec", p.srv.Name, "python3", "-c", serverPy)
	var serr bytes.Buffer
	srv.Stderr = &serr
	sout, err := srv.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer srv.Wait()
	defer srv.Process.Kill()
	rd := bufio.NewReader(sout)
	if line, err := rd.ReadString('\n'); err != nil || line != "ready\n" {
		t.Fatalf("server did not start: %q %v %s", line, err, serr.String())
	}
	out, err := p.cli.Run("python3", "-c", clientPy, first)
	rest, _ := io.ReadAll(rd)
	return err == nil && strings.TrimSpace(out) == "DATA", out + string(rest) + serr.String()
}

func (p *pair) dial() (*ctnl.Conn, error) { return ctnl.Dial(ctnl.DialOptions{NetNS: p.srv.Name}) }

func toyConfig(cleanup engine.Cleanup) engine.Config {
	return engine.Config{Cleanup: cleanup, Helpers: []engine.Helper{{
		Object: cthelper.Helper{Name: toyName, Family: unix.AF_INET, Proto: unix.IPPROTO_TCP, QueueNum: toyQueue, PrivLen: 4,
			Policies: []cthelper.Policy{{Name: toyName, ExpectMax: 2, ExpectTimeout: 30}}},
		QueueLen: 100,
		Parser:   toyParser{},
		Source:   "test",
	}}}
}

func helperStatus(t *testing.T, c *ctnl.Conn) (cthelper.Status, bool) {
	t.Helper()
	hs, err := cthelper.NewClient(c).Get(toyName, unix.AF_INET, unix.IPPROTO_TCP)
	if errors.Is(err, ctnl.ErrNotFound) {
		return 0, false
	}
	if err != nil {
		t.Fatal(err)
	}
	return hs[0].Status, true
}

// privData reads the helper private data of the control connection's
// conntrack through ctnetlink.
func privData(t *testing.T, c *ctnl.Conn) []byte {
	t.Helper()
	var info []byte
	err := c.Query(ctnl.Request{Op: "dump conntracks", Subsys: netfilter.NFSubsysCTNetlink, Type: 1, Family: netfilter.ProtoIPv4,
		Flags: 0x300}, func(m ctnl.Message) error { // NLM_F_DUMP
		s := ctnl.NewScanner(m.Attrs)
		var dport7000 bool
		var help []byte
		for s.Next() {
			switch s.Type() {
			case 1:
				tu, err := ctnetlink.DecodeTuple(s.Data())
				if err == nil && tu.DstPort == 7000 {
					dport7000 = true
				}
			case 5:
				h := s.Nested()
				for h.Next() {
					if h.Type() == 2 {
						help = append([]byte{}, h.Data()...)
					}
				}
			}
		}
		if dport7000 && help != nil {
			info = help
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return info
}

// The engine end to end on a kernel with cthelper and the NFQUEUE glue:
// it creates and enables its helper, its expectation lets the data
// connection through the firewall, its private data lands in the
// conntrack, a parser panic costs one packet its help and nothing else,
// and at Stop the helper is disabled so the data connection is refused
// again.
func TestEngineEndToEnd(t *testing.T) {
	p := newPair(t)
	ctl := p.srv.Dial()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	eng := engine.New(engine.Options{Dial: p.dial, Log: log})
	if err := eng.Start(toyConfig(engine.CleanupDisable)); err != nil {
		t.Fatal(err)
	}
	stop := serve(t, eng)
	if st, ok := helperStatus(t, ctl); !ok || st != cthelper.Enabled {
		t.Fatalf("helper after Start: present %v, status %v", ok, st)
	}
	if out, _ := exec.Command("nfct", "list", "helper").CombinedOutput(); !bytes.Contains(out, []byte(toyName)) {
		t.Fatalf("nfct does not list the helper:\n%s", out)
	}
	p.loadRuleset(t)

	ok, out := p.exchange(t, "PANIC")
	if !ok {
		t.Fatalf("data connection with the engine running failed:\n%s", out)
	}
	st := eng.Metrics().Snapshot()[0]
	if st.Panics.Load() != 1 || st.ExpectCtnetlink.Load() != 2 || st.ExpectFailed.Load() != 0 {
		t.Fatalf("panics %d, expectations %d, failed %d", st.Panics.Load(), st.ExpectCtnetlink.Load(), st.ExpectFailed.Load())
	}
	// Server's OPEN and client's BYE were counted (the PANIC packet was
	// not: its parse never finished).
	if info := privData(t, ctl); len(info) != 4 || info[0] < 2 {
		t.Fatalf("private data of the control connection: % x, want a count of at least 2", info)
	}
	var text bytes.Buffer
	eng.Metrics().WriteText(&text)
	if !strings.Contains(text.String(), `gonfct_helper_panics_total{netns="",helper="gtest",queue="3"} 1`) {
		t.Fatalf("metrics:\n%s", text.String())
	}

	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if st, ok := helperStatus(t, ctl); !ok || st != cthelper.Disabled {
		t.Fatalf("helper after Stop: present %v, status %v; want it disabled", ok, st)
	}
	if ok, out := p.exchange(t, "HELLO"); ok {
		t.Fatalf("data connection got through with the engine stopped:\n%s", out)
	}
}

// --cleanup delete removes the helper; while a ruleset still references it
// the engine disables it instead.
func TestEngineCleanupDelete(t *testing.T) {
	p := newPair(t)
	ctl := p.srv.Dial()
	for _, withRules := range []bool{true, false} {
		eng := engine.New(engine.Options{Dial: p.dial})
		if err := eng.Start(toyConfig(engine.CleanupDelete)); err != nil {
			t.Fatal(err)
		}
		stop := serve(t, eng)
		if withRules {
			p.loadRuleset(t)
		}
		if err := stop(); err != nil {
			t.Fatal(err)
		}
		st, present := helperStatus(t, ctl)
		if withRules && (!present || st != cthelper.Disabled) {
			t.Fatalf("referenced helper after Stop: present %v status %v, want disabled", present, st)
		}
		if !withRules && present {
			t.Fatal("helper still present after Stop with --cleanup delete")
		}
		p.srv.Run("nft", "flush", "ruleset")
	}
}

// A confirmed master's expectations go through ctnetlink; the same
// exchange with --expect-via verdict puts the first in NFQA_EXP, which the
// kernel attaches as well, and the second through ctnetlink.
func TestEngineExpectInVerdict(t *testing.T) {
	p := newPair(t)
	cfg := toyConfig(engine.CleanupDelete)
	cfg.ExpectVia = engine.ExpectVerdict
	eng := engine.New(engine.Options{Dial: p.dial})
	if err := eng.Start(cfg); err != nil {
		t.Fatal(err)
	}
	serve(t, eng)
	p.loadRuleset(t)
	defer p.srv.Run("nft", "flush", "ruleset")
	if ok, out := p.exchange(t, "HELLO"); !ok {
		t.Fatalf("data connection with the expectation in the verdict failed:\n%s", out)
	}
	st := eng.Metrics().Snapshot()[0]
	if st.ExpectInVerdict.Load() != 1 || st.ExpectCtnetlink.Load() != 1 || st.ExpectFailed.Load() != 0 {
		t.Fatalf("in verdict %d, ctnetlink %d, failed %d", st.ExpectInVerdict.Load(), st.ExpectCtnetlink.Load(), st.ExpectFailed.Load())
	}
	// The data connection used the first; the second waits in the table.
	if out, _ := p.srv.Run("conntrack", "-L", "expect"); !strings.Contains(out, "dport=7101") {
		t.Fatalf("no expectation for the second port:\n%s", out)
	}
}

// Reload keeps the queue bound and swaps the parser between packets.
func TestEngineReload(t *testing.T) {
	p := newPair(t)
	eng := engine.New(engine.Options{Dial: p.dial})
	cfg := toyConfig(engine.CleanupDelete)
	if err := eng.Start(cfg); err != nil {
		t.Fatal(err)
	}
	serve(t, eng)
	p.loadRuleset(t)
	defer p.srv.Run("nft", "flush", "ruleset")
	cfg.Helpers[0].Object.Policies[0].ExpectMax = 3
	if err := eng.Reload(cfg); err != nil {
		t.Fatal(err)
	}
	hs, err := cthelper.NewClient(p.srv.Dial()).Get(toyName, unix.AF_INET, unix.IPPROTO_TCP)
	if err != nil || hs[0].Policies[0].ExpectMax != 3 || hs[0].Status != cthelper.Enabled {
		t.Fatalf("after reload: %+v, %v", hs, err)
	}
	if ok, out := p.exchange(t, "HELLO"); !ok {
		t.Fatalf("data connection after reload failed:\n%s", out)
	}
}

// serve runs eng (started) until the stop it returns is called (at the
// latest at the test's end), which returns Run's error once every worker
// has returned.
func serve(t *testing.T, eng *engine.Engine) (stop func() error) {
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- eng.Run(ctx) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() { cancel(); err = <-ran })
		return err
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}
