//go:build hosttest

package expect_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gonfct/gonfct/internal/nstest"
	"github.com/gonfct/gonfct/pkg/ctnetlink"
	"github.com/gonfct/gonfct/pkg/ctnl"
	"github.com/gonfct/gonfct/pkg/expect"
	"github.com/mdlayher/netlink"
	"github.com/ti-mo/netfilter"
	"golang.org/x/sys/unix"
)

var a = netip.MustParseAddr

// newMaster creates a conntrack with a helper by raw ctnetlink
// (IPCTNL_MSG_CT_NEW with CTA_HELP), which conntrack -I cannot do.
// helper "" creates one without a helper; hasZone puts it in zone.
func newMaster(t testing.TB, c *ctnl.Conn, orig ctnetlink.Tuple, helper string, zone uint16, hasZone bool) {
	t.Helper()
	const (
		ctaTupleOrig, ctaTupleReply, ctaHelp, ctaTimeout, ctaZone = 1, 2, 5, 7, 18
		ctaHelpName                                               = 1
	)
	reply := ctnetlink.Tuple{Src: orig.Dst, Dst: orig.Src, Proto: orig.Proto, SrcPort: orig.DstPort, DstPort: orig.SrcPort}
	enc := ctnl.NewEncoder(nil)
	orig.Encode(enc, ctaTupleOrig)
	reply.Encode(enc, ctaTupleReply)
	enc.Uint32(ctaTimeout, 600)
	if helper != "" {
		h := enc.Nest(ctaHelp)
		enc.String(ctaHelpName, helper)
		enc.End(h)
	}
	if hasZone {
		enc.Uint16(ctaZone, zone)
	}
	err := c.Do(ctnl.Request{Op: "create master " + orig.String(), Subsys: netfilter.NFSubsysCTNetlink, Type: 0,
		Family: netfilter.ProtoFamily(orig.Family()), Flags: netlink.Create | netlink.Excl, Attrs: enc.Bytes()})
	if err != nil {
		t.Fatal(err)
	}
}

func get(c *ctnl.Conn, t ctnetlink.Tuple, zone uint16, hasZone bool, id uint32) (expect.Expectation, error) {
	var e expect.Expectation
	err := expect.NewClient(c).Get(ctnetlink.Key{Tuple: t, Zone: zone, HasZone: hasZone, ID: id}, &e)
	return e, err
}

func del(c *ctnl.Conn, t ctnetlink.Tuple, zone uint16, hasZone bool, id uint32) error {
	return expect.NewClient(c).Delete(ctnetlink.Key{Tuple: t, Zone: zone, HasZone: hasZone, ID: id})
}

// one is the prefix of the one address a.
func one(a netip.Addr) netip.Prefix { return netip.PrefixFrom(a, a.BitLen()) }

func tcp(src, dst string, sport, dport uint16) ctnetlink.Tuple {
	return ctnetlink.Tuple{Src: a(src), Dst: a(dst), Proto: unix.IPPROTO_TCP, SrcPort: sport, DstPort: dport}
}

// ftpExp is an expectation of an FTP data connection from the server
// back to the client's port, any source port.
func ftpExp(master ctnetlink.Tuple, port uint16) *expect.Expectation {
	tu := ctnetlink.Tuple{Src: master.Dst, Dst: master.Src, Proto: master.Proto, DstPort: port}
	m := expect.ExactMask(tu)
	m.SrcPort = 0
	return &expect.Expectation{Master: master, Tuple: tu, Mask: m}
}

func list(t testing.TB, c *ctnl.Conn, f expect.Filter) []expect.Expectation {
	t.Helper()
	var out []expect.Expectation
	if err := expect.NewClient(c).List(f, func(e *expect.Expectation) error { out = append(out, *e); return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

// stripTimeout drops the leading seconds-left field, which ticks.
func stripTimeout(line string) string {
	_, rest, _ := strings.Cut(strings.TrimSpace(line), " ")
	if strings.HasPrefix(line, "[") || strings.HasPrefix(strings.TrimSpace(line), "[") {
		f := strings.Fields(line)
		return f[0] + " " + strings.Join(f[2:], " ")
	}
	return rest
}

// conntrackLines is conntrack -L expect for both families (conntrack
// lists IPv4 alone unless told -f ipv6), timeouts stripped, sorted.
func conntrackLines(t testing.TB, ns *nstest.NS) []string {
	t.Helper()
	var lines []string
	for _, f := range []string{"ipv4", "ipv6"} {
		out, err := exec.Command("ip", "netns", "exec", ns.Name, "conntrack", "-L", "expect", "-f", f).Output()
		if err != nil {
			t.Fatalf("conntrack -L expect -f %s: %v", f, err)
		}
		for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			if l != "" {
				lines = append(lines, stripTimeout(l))
			}
		}
	}
	slices.Sort(lines)
	return lines
}

func TestCreateListGetDelete(t *testing.T) {
	ns := nstest.New(t)
	c := ns.Dial()
	m4 := tcp("10.0.0.1", "10.0.0.2", 40000, 21)
	m6 := tcp("fd00::1", "fd00::2", 40001, 21)
	sipM := ctnetlink.Tuple{Src: a("10.0.0.1"), Dst: a("10.0.0.3"), Proto: unix.IPPROTO_UDP, SrcPort: 5060, DstPort: 5060}
	newMaster(t, c, m4, "ftp", 0, false)
	newMaster(t, c, m6, "ftp", 0, false)
	newMaster(t, c, sipM, "sip", 0, false)

	e4 := ftpExp(m4, 50000)
	e4.Flags = expect.Permanent | expect.Inactive | expect.Userspace
	e4.Timeout = 17 // ignored on create: the ftp policy's 300 s apply
	if err := expect.NewClient(c).Create(e4); err != nil {
		t.Fatal(err)
	}
	e6 := ftpExp(m6, 50001)
	e6.Mask.Src = a("::")
	if err := expect.NewClient(c).Create(e6); err != nil {
		t.Fatal(err)
	}
	// sip has four classes; class 2 (video) with the helper assigned to
	// the expected connection.
	rtp := &expect.Expectation{Master: sipM, Tuple: ctnetlink.Tuple{Src: a("10.0.0.3"), Dst: a("10.0.0.1"), Proto: unix.IPPROTO_UDP, DstPort: 5004},
		Class: 2, Helper: "sip"}
	rtp.Mask = expect.ExactMask(rtp.Tuple)
	rtp.Mask.SrcPort = 0
	if err := expect.NewClient(c).Create(rtp); err != nil {
		t.Fatal(err)
	}

	got := list(t, c, expect.Filter{})
	if len(got) != 3 {
		t.Fatalf("listed %d expectations, want 3: %v", len(got), got)
	}
	// Field by field against conntrack -L expect on the same table.
	var ours []string
	for _, e := range got {
		ours = append(ours, stripTimeout(strings.TrimSuffix(string(e.AppendText(nil)), "\n")))
	}
	slices.Sort(ours)
	if theirs := conntrackLines(t, ns); !slices.Equal(ours, theirs) {
		t.Errorf("list differs from conntrack -L expect:\nours:   %q\ntheirs: %q", ours, theirs)
	}

	g, err := get(c, e4.Tuple, 0, false, 0)
	if err != nil {
		t.Fatal(err)
	}
	if g.Flags != expect.Permanent|expect.Inactive {
		t.Errorf("flags %v, want PERMANENT,INACTIVE (USERSPACE stripped by the kernel)", g.Flags)
	}
	if g.Timeout < 295 || g.Timeout > 300 {
		t.Errorf("timeout %d, want the ftp policy's 300", g.Timeout)
	}
	if g.Helper != "ftp" || g.Master != m4 || g.Tuple != e4.Tuple || g.Mask != e4.Mask || g.Family != unix.AF_INET {
		t.Errorf("get returned %+v", g)
	}
	r, err := get(c, rtp.Tuple, 0, false, 0)
	if err != nil || r.Class != 2 || r.Helper != "sip" || r.Timeout > 180 {
		t.Errorf("sip expectation %+v, %v: want class 2, helper sip, timeout from the 180 s policy", r, err)
	}
	if _, err := get(c, e4.Tuple, 0, false, g.ID+1); !errors.Is(err, ctnl.ErrNotFound) {
		t.Errorf("get with a wrong ID: %v, want ErrNotFound", err)
	}

	// Filters.
	for _, tt := range []struct {
		name string
		f    expect.Filter
		want int
	}{
		{"ipv6", expect.Filter{Family: unix.AF_INET6}, 1},
		{"udp", expect.Filter{Proto: unix.IPPROTO_UDP}, 1},
		{"helper ftp", expect.Filter{Helper: "ftp"}, 2},
		{"class 2", expect.Filter{Class: 2, HasClass: true}, 1},
		{"dport", expect.Filter{DstPort: ctnetlink.PortOf(50001)}, 1},
		{"master (kernel side)", expect.Filter{MasterProto: 6, MasterSrc: one(m4.Src), MasterDst: one(m4.Dst),
			MasterSrcPort: ctnetlink.PortOf(m4.SrcPort), MasterDstPort: ctnetlink.PortOf(m4.DstPort)}, 1},
		{"absent master", expect.Filter{MasterProto: 6, MasterSrc: one(m4.Src), MasterDst: one(m4.Dst),
			MasterSrcPort: ctnetlink.PortOf(1), MasterDstPort: ctnetlink.PortOf(21)}, 0},
		{"master address", expect.Filter{MasterDst: one(a("10.0.0.3"))}, 1},
		{"master without expectations", expect.Filter{MasterProto: 6, MasterSrc: one(m6.Src), MasterDst: one(m6.Dst),
			MasterSrcPort: ctnetlink.PortOf(1), MasterDstPort: ctnetlink.PortOf(2)}, 0},
	} {
		if n := len(list(t, c, tt.f)); n != tt.want {
			t.Errorf("filter %s: %d expectations, want %d", tt.name, n, tt.want)
		}
	}

	if err := del(c, e4.Tuple, 0, false, g.ID+1); !errors.Is(err, ctnl.ErrNotFound) {
		t.Errorf("delete with a wrong ID: %v, want ErrNotFound", err)
	}
	if err := del(c, e4.Tuple, 0, false, g.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := get(c, e4.Tuple, 0, false, 0); !errors.Is(err, ctnl.ErrNotFound) {
		t.Errorf("get after delete: %v, want ErrNotFound", err)
	}
	if err := del(c, e4.Tuple, 0, false, 0); !errors.Is(err, ctnl.ErrNotFound) {
		t.Errorf("second delete: %v, want ErrNotFound", err)
	}
	st := 0
	var created uint32
	if err := expect.NewClient(c).Stats(func(s expect.CPUStats) error { st++; created += s.Create; return nil }); err != nil {
		t.Fatal(err)
	}
	if st == 0 || created < 3 {
		t.Errorf("stats: %d CPUs, %d created; want ≥1 CPU and ≥3 created", st, created)
	}
}

func TestCreateErrors(t *testing.T) {
	ns := nstest.New(t)
	c := ns.Dial()
	m := tcp("10.0.0.1", "10.0.0.2", 40000, 21)
	plain := tcp("10.0.0.1", "10.0.0.2", 40001, 80)
	other := tcp("10.0.0.5", "10.0.0.2", 40000, 21)
	newMaster(t, c, m, "ftp", 0, false)
	newMaster(t, c, plain, "", 0, false)
	newMaster(t, c, other, "ftp", 0, false)
	// A master without a helper has no expectations; the kernel answers a
	// dump of them with a bare acknowledgement.
	if got := list(t, c, expect.Filter{MasterProto: 6, MasterSrc: one(plain.Src), MasterDst: one(plain.Dst),
		MasterSrcPort: ctnetlink.PortOf(plain.SrcPort), MasterDstPort: ctnetlink.PortOf(plain.DstPort)}); len(got) != 0 {
		t.Errorf("expectations of a master without helper: %v", got)
	}

	err := expect.NewClient(c).Create(ftpExp(plain, 50000))
	// Facts only: advice naming commands is the command line's.
	if !errors.Is(err, unix.EOPNOTSUPP) || !strings.Contains(err.Error(), "master conntrack has no helper") ||
		strings.Contains(err.Error(), "gonfct") {
		t.Errorf("master without helper: %v", err)
	}
	err = expect.NewClient(c).Create(ftpExp(tcp("10.9.9.9", "10.0.0.2", 1, 21), 50000))
	if !errors.Is(err, ctnl.ErrNotFound) || !strings.Contains(err.Error(), "master conntrack does not exist") {
		t.Errorf("absent master: %v", err)
	}
	e := ftpExp(m, 50000)
	e.Class, e.Helper = 1, "ftp"
	if err := expect.NewClient(c).Create(e); !errors.Is(err, unix.EINVAL) {
		t.Errorf("class 1 for ftp (one class): %v, want EINVAL", err)
	}
	e = ftpExp(m, 50000)
	e.Fn = "no-such-function"
	if err := expect.NewClient(c).Create(e); !errors.Is(err, unix.EINVAL) {
		t.Errorf("unknown expectfn: %v, want EINVAL", err)
	}
	e = ftpExp(m, 50000)
	e.Class = 2 // beyond ftp's one class, whichever helper the kernel checks
	if err := expect.NewClient(c).Create(e); !errors.Is(err, unix.EINVAL) {
		t.Errorf("class 2 on an ftp master: %v, want EINVAL", err)
	}
	if err := expect.NewClient(c).Create(ftpExp(m, 50000)); err != nil {
		t.Fatal(err)
	}
	if err := expect.NewClient(c).Create(ftpExp(m, 50000)); !errors.Is(err, ctnl.ErrExists) {
		t.Errorf("same expectation twice: %v, want ErrExists", err)
	}
	// Another master expecting an overlapping tuple: the kernel says EBUSY.
	clash := ftpExp(other, 50000)
	clash.Tuple.Dst = m.Src         // the same port on the same client as m's,
	clash.Tuple.Src = a("10.0.0.9") // from any source
	clash.Mask.Src = a("0.0.0.0")
	if err := expect.NewClient(c).Create(clash); !errors.Is(err, ctnl.ErrBusy) || !strings.Contains(err.Error(), "clashes") {
		t.Errorf("clashing tuple: %v, want EBUSY", err)
	}
	// ftp allows one expectation per master: the next evicts the first.
	if err := expect.NewClient(c).Create(ftpExp(m, 50001)); err != nil {
		t.Fatal(err)
	}
	got := list(t, c, expect.Filter{})
	if len(got) != 1 || got[0].Tuple.DstPort != 50001 {
		t.Errorf("after a second ftp expectation the table holds %v, want only port 50001", got)
	}
	// NAT and expectfn are taken and reported back.
	n := ftpExp(other, 50002)
	n.Fn = "nat-follow-master"
	n.NAT = expect.NAT{Set: true, Dir: 1, Tuple: ctnetlink.Tuple{Src: a("192.0.2.1"), Dst: a("0.0.0.0"), Proto: 6, SrcPort: 1234}}
	if err := expect.NewClient(c).Create(n); err != nil {
		t.Fatal(err)
	}
	g, err := get(c, n.Tuple, 0, false, 0)
	if err != nil || g.Fn != "nat-follow-master" || !g.NAT.Set || g.NAT.Dir != 1 || g.NAT.Tuple.Src != a("192.0.2.1") || g.NAT.Tuple.SrcPort != 1234 {
		t.Errorf("NAT expectation read back as %+v, %v", g, err)
	}
}

func TestDeleteWaysAndZones(t *testing.T) {
	ns := nstest.New(t)
	c := ns.Dial()
	var masters []ctnetlink.Tuple
	for i := range 4 {
		m := tcp("10.0.0.1", fmt.Sprintf("10.0.1.%d", i+1), 40000, 21)
		newMaster(t, c, m, "ftp", 0, false)
		masters = append(masters, m)
	}
	sipM := ctnetlink.Tuple{Src: a("10.0.0.1"), Dst: a("10.0.2.1"), Proto: unix.IPPROTO_UDP, SrcPort: 5060, DstPort: 5060}
	newMaster(t, c, sipM, "sip", 0, false)
	zoned := tcp("10.0.0.1", "10.0.1.1", 40000, 21) // same tuple as masters[0], zone 5
	newMaster(t, c, zoned, "ftp", 5, true)
	fill := func() {
		t.Helper()
		for i, m := range masters {
			if err := expect.NewClient(c).Create(ftpExp(m, uint16(50000+i))); err != nil && !errors.Is(err, ctnl.ErrExists) {
				t.Fatal(err)
			}
		}
		s := &expect.Expectation{Master: sipM, Tuple: ctnetlink.Tuple{Src: sipM.Dst, Dst: sipM.Src, Proto: 17, DstPort: 5004}}
		if err := expect.NewClient(c).Create(s); err != nil && !errors.Is(err, ctnl.ErrExists) {
			t.Fatal(err)
		}
		z := ftpExp(zoned, 51000)
		z.Zone, z.HasZone = 5, true
		if err := expect.NewClient(c).Create(z); err != nil && !errors.Is(err, ctnl.ErrExists) {
			t.Fatal(err)
		}
	}
	fill()
	if n := len(list(t, c, expect.Filter{})); n != 6 {
		t.Fatalf("%d expectations, want 6", n)
	}
	// Zone: the kernel's dumps carry none, the filter finds the masters.
	z := list(t, c, expect.Filter{Zone: 5, HasZone: true})
	if len(z) != 1 || z[0].Tuple.DstPort != 51000 {
		t.Errorf("zone 5 lists %v, want the port 51000 expectation", z)
	}
	if n := len(list(t, c, expect.Filter{Zone: 0, HasZone: true})); n != 5 {
		t.Errorf("zone 0 lists %d, want 5", n)
	}
	mz := expect.Filter{Zone: 5, HasZone: true, MasterProto: 6, MasterSrc: one(zoned.Src), MasterDst: one(zoned.Dst),
		MasterSrcPort: ctnetlink.PortOf(40000), MasterDstPort: ctnetlink.PortOf(21)}
	if z := list(t, c, mz); len(z) != 1 || z[0].Tuple.DstPort != 51000 {
		t.Errorf("master in zone 5 (kernel side) lists %v", z)
	}
	// Get and delete in a zone.
	zt := ftpExp(zoned, 51000).Tuple
	if _, err := get(c, zt, 0, false, 0); !errors.Is(err, ctnl.ErrNotFound) {
		t.Errorf("get of the zone 5 expectation in zone 0: %v, want ErrNotFound", err)
	}
	if _, err := get(c, zt, 5, true, 0); err != nil {
		t.Errorf("get in zone 5: %v", err)
	}

	// By helper, in the kernel.
	if err := expect.NewClient(c).DeleteByHelper("sip"); err != nil {
		t.Fatal(err)
	}
	if n := len(list(t, c, expect.Filter{Helper: "sip"})); n != 0 {
		t.Errorf("%d sip expectations after delete by helper", n)
	}
	if n := len(list(t, c, expect.Filter{})); n != 5 {
		t.Errorf("%d expectations left, want 5", n)
	}
	// By zone, with the tuple.
	if err := del(c, zt, 5, true, 0); err != nil {
		t.Fatal(err)
	}
	// Flush.
	if err := expect.NewClient(c).Flush(); err != nil {
		t.Fatal(err)
	}
	if n := len(list(t, c, expect.Filter{})); n != 0 {
		t.Errorf("%d expectations after flush", n)
	}
	fill()
	if err := expect.NewClient(c).DeleteByHelper("ftp"); err != nil {
		t.Fatal(err)
	}
	if got := list(t, c, expect.Filter{}); len(got) != 1 || got[0].Helper != "sip" {
		t.Errorf("after delete of ftp's: %v, want only the sip one", got)
	}
}

func TestWatch(t *testing.T) {
	ns := nstest.New(t)
	c := ns.Dial()
	m := tcp("10.0.0.1", "10.0.0.2", 40000, 21)
	sipM := ctnetlink.Tuple{Src: a("10.0.0.1"), Dst: a("10.0.0.3"), Proto: unix.IPPROTO_UDP, SrcPort: 5060, DstPort: 5060}
	newMaster(t, c, m, "ftp", 0, false)
	newMaster(t, c, sipM, "sip", 0, false)

	// conntrack -E expect on the same namespace, for the text.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	peer := exec.CommandContext(ctx, "ip", "netns", "exec", ns.Name, "conntrack", "-E", "expect")
	var peerOut strings.Builder
	peer.Stdout = &peerOut
	if err := peer.Start(); err != nil {
		t.Fatal(err)
	}

	all, err := expect.NewWatcher(ns.Dial(), ns.Dial(), expect.WatchOptions{Resync: true})
	if err != nil {
		t.Fatal(err)
	}
	onlyFTPNew, err := expect.NewWatcher(ns.Dial(), ns.Dial(), expect.WatchOptions{Events: []ctnetlink.EventType{ctnetlink.EventNew}, Filter: expect.Filter{Helper: "ftp"}})
	if err != nil {
		t.Fatal(err)
	}
	if g, forced := all.Buffer(); !forced || g < ctnetlink.DefaultBufferSize {
		t.Errorf("buffer %d forced %v, want ≥ 32 MiB forced as root", g, forced)
	}
	time.Sleep(300 * time.Millisecond) // conntrack -E subscribes

	e := ftpExp(m, 50000)
	if err := expect.NewClient(c).Create(e); err != nil {
		t.Fatal(err)
	}
	s := &expect.Expectation{Master: sipM, Tuple: ctnetlink.Tuple{Src: sipM.Dst, Dst: sipM.Src, Proto: 17, DstPort: 5004}}
	if err := expect.NewClient(c).Create(s); err != nil {
		t.Fatal(err)
	}
	if err := expect.NewClient(c).Flush(); err != nil {
		t.Fatal(err)
	}

	collect := func(w *expect.Watcher, n int) []string {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		var lines []string
		err := w.Run(ctx, func(ev *expect.Event) error {
			if ev.Resync {
				t.Errorf("unexpected resync event %v", ev)
			}
			lines = append(lines, strings.TrimSuffix(string(ev.Expectation.AppendEvent(nil, ev.Type)), "\n"))
			if len(lines) == n {
				return ctnetlink.ErrStop
			}
			return nil
		})
		if err != nil || len(lines) != n {
			t.Fatalf("after %q: %v", lines, err)
		}
		return lines
	}
	got := collect(all, 4)
	ftpOnly := collect(onlyFTPNew, 1)
	if !strings.HasPrefix(ftpOnly[0], "    [NEW] ") || !strings.Contains(ftpOnly[0], "helper=ftp") {
		t.Errorf("filtered watcher saw %q, want the ftp NEW", ftpOnly)
	}
	time.Sleep(300 * time.Millisecond)
	cancel()
	_ = peer.Wait()
	var theirs []string
	for _, l := range strings.Split(strings.TrimSpace(peerOut.String()), "\n") {
		theirs = append(theirs, stripTimeout(l))
	}
	var ours []string
	for _, l := range got {
		ours = append(ours, stripTimeout(l))
	}
	if !slices.Equal(ours, theirs) {
		t.Errorf("events differ from conntrack -E expect:\nours:   %q\ntheirs: %q", ours, theirs)
	}
}

// A receive buffer far too small for a burst: the watcher reports the
// exact number of dropped events, resynchronises from a dump, and what it
// reported (events and resync events) adds up to the table.
func TestWatchLossAndResync(t *testing.T) {
	ns := nstest.New(t)
	c := ns.Dial()
	const n = 300
	var masters []ctnetlink.Tuple
	for i := range n {
		m := tcp("10.0.0.1", fmt.Sprintf("10.1.%d.%d", i/250, i%250+1), 40000, 21)
		newMaster(t, c, m, "ftp", 0, false)
		masters = append(masters, m)
	}
	// Half exist before the watcher starts.
	for _, m := range masters[:n/2] {
		if err := expect.NewClient(c).Create(ftpExp(m, 50000)); err != nil {
			t.Fatal(err)
		}
	}
	initial := map[uint32]bool{}
	for _, e := range list(t, c, expect.Filter{}) {
		initial[e.ID] = true
	}
	var losses []ctnetlink.Loss
	w, err := expect.NewWatcher(ns.Dial(), ns.Dial(), expect.WatchOptions{Resync: true, BufferSize: 4096,
		OnLoss: func(l ctnetlink.Loss) { losses = append(losses, l) }})
	if err != nil {
		t.Fatal(err)
	}
	// While nobody reads: new ones for the other half, a quarter deleted.
	for _, m := range masters[n/2:] {
		if err := expect.NewClient(c).Create(ftpExp(m, 50000)); err != nil {
			t.Fatal(err)
		}
	}
	for _, m := range masters[:n/4] {
		if err := del(c, ftpExp(m, 50000).Tuple, 0, false, 0); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	newSeen, destroySeen := map[uint32]bool{}, map[uint32]bool{}
	err = w.Run(ctx, func(ev *expect.Event) error {
		if ev.Type == ctnetlink.EventNew {
			newSeen[ev.Expectation.ID] = true
		} else {
			destroySeen[ev.Expectation.ID] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(losses) == 0 {
		t.Fatal("no loss reported for a burst into a 4 KiB buffer")
	}
	var dropped uint32
	for _, l := range losses {
		dropped += l.Dropped
		if !l.Resynced {
			t.Errorf("loss %+v not resynchronised", l)
		}
	}
	if dropped == 0 {
		t.Errorf("losses %+v count no dropped events", losses)
	}
	// What the events say exists must be what exists: the initial table,
	// plus what was reported new, minus what was reported destroyed.
	now := map[uint32]bool{}
	for _, e := range list(t, c, expect.Filter{}) {
		now[e.ID] = true
	}
	final := initial
	for id := range newSeen {
		final[id] = true
	}
	for id := range destroySeen {
		delete(final, id)
	}
	for id := range now {
		if !final[id] {
			t.Errorf("expectation %d exists but was never reported", id)
		}
	}
	for id := range final {
		if !now[id] {
			t.Errorf("expectation %d reported but absent", id)
		}
	}
	if len(now) != n-n/4 {
		t.Errorf("%d expectations, want %d", len(now), n-n/4)
	}
	t.Logf("losses: %+v; %d new, %d destroyed reported", losses, len(newSeen), len(destroySeen))
}
