package engine

import (
	"bytes"
	"encoding/binary"
	"errors"
	"log/slog"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/gonfct/gonfct/pkg/cthelper"
	"github.com/gonfct/gonfct/pkg/ctnetlink"
	"github.com/gonfct/gonfct/pkg/ctnl"
	"github.com/gonfct/gonfct/pkg/ctnl/ctnltest"
	"github.com/gonfct/gonfct/pkg/expect"
	"github.com/gonfct/gonfct/pkg/nfq"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// fakeKernel answers requests that want an acknowledgement with errno
// (0: success) and records every message it is sent.
type fakeKernel struct {
	mu    sync.Mutex
	errno int
	sent  []netlink.Message
}

func (k *fakeKernel) conn() *ctnl.Conn {
	return ctnltest.Dial(ctnltest.Serve(func(req netlink.Message) [][]netlink.Message {
		k.mu.Lock()
		defer k.mu.Unlock()
		k.sent = append(k.sent, req)
		if req.Header.Flags&netlink.Acknowledge != 0 {
			return [][]netlink.Message{{ctnltest.Ack(req, unix.Errno(k.errno))}}
		}
		return nil
	}))
}

func (k *fakeKernel) messages(typ uint16) []netlink.Message {
	k.mu.Lock()
	defer k.mu.Unlock()
	var out []netlink.Message
	for _, m := range k.sent {
		if uint16(m.Header.Type) == typ {
			out = append(out, m)
		}
	}
	return out
}

const (
	typVerdict = 3<<8 | 1 // NFNL_SUBSYS_QUEUE, NFQNL_MSG_VERDICT
	typExpNew  = 2<<8 | 0 // NFNL_SUBSYS_CTNETLINK_EXP, IPCTNL_MSG_EXP_NEW
	typExpGet  = 2<<8 | 1 // IPCTNL_MSG_EXP_GET
)

// parserFunc adapts a function to cthelper.Parser.
type parserFunc func(p *cthelper.Packet, r *cthelper.Result) error

func (f parserFunc) Parse(p *cthelper.Packet, r *cthelper.Result) error { return f(p, r) }

type testRig struct {
	queueK *fakeKernel
	syncK  *expectKernel
	w      *worker
	stats  *Stats
	logs   *bytes.Buffer
}

// expectKernel answers the worker's synchronous expectation requests: each
// exclusive create takes the next errno of creates (0 when they run out);
// a get answers an expectation of master holder.
type expectKernel struct {
	creates []int
	tried   []uint16 // destination ports of the creates, in order
	holder  ctnetlink.Tuple
}

func (k *expectKernel) dial() (*ctnl.Conn, error) {
	return ctnltest.Dial(ctnltest.Serve(func(m netlink.Message) [][]netlink.Message {
		answer := func(errno int) [][]netlink.Message { return [][]netlink.Message{{ctnltest.Ack(m, unix.Errno(errno))}} }
		switch uint16(m.Header.Type) {
		case typExpNew:
			e, err := expect.Decode(m.Data[4:])
			if err != nil || m.Header.Flags&netlink.Excl == 0 {
				return answer(int(unix.EINVAL))
			}
			k.tried = append(k.tried, e.Tuple.DstPort)
			errno := 0
			if len(k.creates) > 0 {
				errno, k.creates = k.creates[0], k.creates[1:]
			}
			return answer(errno)
		case typExpGet:
			e, err := expect.Decode(m.Data[4:])
			if err != nil {
				return answer(int(unix.EINVAL))
			}
			e.Master, e.Mask = k.holder, expect.ExactMask(e.Tuple)
			enc := ctnl.NewEncoder(nil)
			e.Encode(enc)
			found := netlink.Message{Header: netlink.Header{Type: typExpNew, Sequence: m.Header.Sequence},
				Data: append([]byte{unix.AF_INET, 0, 0, 0}, enc.Bytes()...)}
			return append([][]netlink.Message{{found}}, answer(0)...)
		}
		return answer(int(unix.EOPNOTSUPP))
	})), nil
}

func newRig(t *testing.T, parser cthelper.Parser, via ExpectVia) *testRig {
	t.Helper()
	r := &testRig{queueK: &fakeKernel{}, syncK: &expectKernel{}, logs: &bytes.Buffer{}}
	q, err := nfq.Bind(r.queueK.conn(), nfq.Config{Num: 5, Conntrack: true})
	if err != nil {
		t.Fatal(err)
	}
	r.stats = &Stats{Helper: "ftp", Queue: 5}
	log := slog.New(slog.NewTextHandler(r.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	r.w = newWorker(q, &Serving{Name: "ftp", Parser: parser, PrivLen: 24, ExpectVia: via}, log, r.stats, r.syncK.dial)
	return r
}

var (
	client = netip.MustParseAddr("10.0.0.2")
	server = netip.MustParseAddr("10.0.0.1")
	orig   = ctnetlink.Tuple{Src: client, Dst: server, Proto: unix.IPPROTO_TCP, SrcPort: 40000, DstPort: 21}
	reply  = ctnetlink.Tuple{Src: server, Dst: client, Proto: unix.IPPROTO_TCP, SrcPort: 21, DstPort: 40000}
)

// conntrackAttrs is an NFQA_CT payload as the kernel builds it (the parts
// the engine reads, plus some it must skip).
func conntrackAttrs(confirmed bool, info []byte) []byte {
	e := ctnl.NewEncoder(nil)
	orig.Encode(e, ctnetlink.AttrTupleOrig)
	reply.Encode(e, ctnetlink.AttrTupleReply)
	status := uint32(0x180)
	if confirmed {
		status |= ipsConfirmed
	}
	e.Uint32(ctnetlink.AttrStatus, status)
	e.Uint32(7, 300) // CTA_TIMEOUT
	h := e.Nest(ctnetlink.AttrHelp)
	e.String(ctnetlink.AttrHelpName, "ftp")
	if info != nil {
		e.Put(ctnetlink.AttrHelpInfo, info)
	}
	e.End(h)
	e.Uint32(12, 0xdeadbeef) // CTA_ID
	return e.Bytes()
}

func (r *testRig) packet(t *testing.T, confirmed bool, info []byte) *nfq.Packet {
	return &nfq.Packet{Queue: 5, Family: unix.AF_INET, ID: 77, Payload: mustHex(t, v4Reply227),
		CT: conntrackAttrs(confirmed, info), CTInfo: uint32(cthelper.EstablishedReply), HasCTInfo: true}
}

// verdict decodes the one verdict sent.
type sentVerdict struct {
	verdict, id uint32
	helper      string
	info        []byte
	timeout     uint32 // CTA_TIMEOUT, 0 if absent
	hasCT       bool
	exp         *expect.Expectation
	payload     []byte
}

func (r *testRig) verdict(t *testing.T) sentVerdict {
	t.Helper()
	ms := r.queueK.messages(typVerdict)
	if len(ms) != 1 {
		t.Fatalf("%d verdicts sent, want 1", len(ms))
	}
	var v sentVerdict
	s := ctnl.NewScanner(ms[0].Data[4:])
	for s.Next() {
		switch s.Type() {
		case 2:
			v.verdict, v.id = binary.BigEndian.Uint32(s.Data()), binary.BigEndian.Uint32(s.Data()[4:])
		case 11:
			v.hasCT = true
			ct := s.Nested()
			for ct.Next() {
				if ct.Type() == ctnetlink.AttrTimeout {
					v.timeout = ct.Uint32()
					continue
				}
				if ct.Type() != ctnetlink.AttrHelp {
					t.Fatalf("NFQA_CT carries attribute %d: only CTA_HELP and CTA_TIMEOUT belong there", ct.Type())
				}
				h := ct.Nested()
				for h.Next() {
					switch h.Type() {
					case ctnetlink.AttrHelpName:
						v.helper = h.String()
					case ctnetlink.AttrHelpInfo:
						v.info = append([]byte{}, h.Data()...)
					}
				}
			}
		case 15:
			e, err := expect.Decode(s.Data())
			if err != nil {
				t.Fatal(err)
			}
			v.exp = &e
		case 10:
			v.payload = append([]byte{}, s.Data()...)
		}
	}
	return v
}

func pasvExpect(r *cthelper.Result) {
	r.AddExpect(cthelper.Expect{Proto: unix.IPPROTO_TCP, Src: client, Dst: server, AnySrcPort: true, DstPort: 1025})
}

// The common case: a 227 reply on a confirmed master. The parser sees the
// packet and its conntrack; the expectation goes through ctnetlink before
// the verdict; the verdict carries only the new private data.
func TestHandlePassiveReply(t *testing.T) {
	var seen cthelper.Packet
	r := newRig(t, parserFunc(func(p *cthelper.Packet, res *cthelper.Result) error {
		seen = *p
		seen.Payload = append([]byte{}, p.Payload...)
		p.Priv[0] = 7
		res.PrivChanged = true
		pasvExpect(res)
		return nil
	}), ExpectAuto)
	info := make([]byte, 24)
	info[1] = 9
	if err := r.w.serveOne(r.packet(t, true, info)); err != nil {
		t.Fatal(err)
	}
	if seen.Dir != cthelper.Reply || seen.Orig != orig || seen.Reply != reply || seen.SrcPort != 21 ||
		!strings.HasPrefix(string(seen.Payload), "227 ") || len(seen.Priv) != 24 || seen.Priv[1] != 9 {
		t.Fatalf("parser saw %+v", seen)
	}
	exps := r.queueK.messages(typExpNew)
	if len(exps) != 1 {
		t.Fatalf("%d expectations through ctnetlink, want 1", len(exps))
	}
	// No ACK asked: the kernel answers only a refusal (onAck).
	if exps[0].Header.Flags&netlink.Acknowledge != 0 || exps[0].Header.Flags&netlink.Create == 0 {
		t.Fatalf("expectation request flags %v, want CREATE without ACK", exps[0].Header.Flags)
	}
	if r.queueK.sent[len(r.queueK.sent)-2].Header.Type != typExpNew {
		t.Fatal("the expectation request does not go right ahead of the verdict")
	}
	e, err := expect.Decode(exps[0].Data[4:])
	if err != nil {
		t.Fatal(err)
	}
	if e.Master != orig || e.Tuple.Src != client || e.Tuple.Dst != server || e.Tuple.DstPort != 1025 ||
		e.Mask.SrcPort != 0 || e.Mask.DstPort != 0xffff || e.Mask.Src != ones4 {
		t.Fatalf("expectation %+v", e)
	}
	v := r.verdict(t)
	if v.verdict != nfq.Accept || v.id != 77 || v.helper != "ftp" || len(v.info) != 24 || v.info[0] != 7 || v.info[1] != 9 || v.exp != nil {
		t.Fatalf("verdict %+v", v)
	}
	if r.stats.ExpectCtnetlink.Load() != 1 || r.stats.PrivUpdates.Load() != 1 || r.stats.Accepted.Load() != 1 {
		t.Fatal("counters not updated")
	}
	// A refusal, which the kernel sends unasked, is counted and logged.
	r.w.onAck(ctnl.Ack{Type: typExpNew, Err: &ctnl.Error{Op: "request", Err: unix.EBUSY}})
	if r.stats.ExpectFailed.Load() != 1 || !strings.Contains(r.logs.String(), "expectation refused") {
		t.Fatalf("refusal: %d failures counted, log %q", r.stats.ExpectFailed.Load(), r.logs.String())
	}
}

// An unconfirmed master (its first packet) cannot be found by ctnetlink:
// the first expectation rides in the verdict, next to an NFQA_CT.
func TestHandleUnconfirmedMasterExpectInVerdict(t *testing.T) {
	r := newRig(t, parserFunc(func(p *cthelper.Packet, res *cthelper.Result) error {
		res.AddExpect(cthelper.Expect{Proto: unix.IPPROTO_UDP, Dst: server, DstPort: 2000, SrcPort: 69})
		return nil
	}), ExpectAuto)
	if err := r.w.serveOne(r.packet(t, false, nil)); err != nil {
		t.Fatal(err)
	}
	if n := len(r.queueK.messages(typExpNew)); n != 0 {
		t.Fatalf("%d expectations through ctnetlink, want 0", n)
	}
	v := r.verdict(t)
	if !v.hasCT || v.helper != "" || v.exp == nil {
		t.Fatalf("verdict %+v: want an empty NFQA_CT and an NFQA_EXP", v)
	}
	if v.exp.Master.Src.IsValid() || v.exp.Tuple.Src != netip.IPv4Unspecified() || v.exp.Mask.Src != netip.IPv4Unspecified() ||
		v.exp.Tuple.Proto != unix.IPPROTO_UDP || v.exp.Tuple.SrcPort != 69 || v.exp.Mask.SrcPort != 0xffff {
		t.Fatalf("expectation in verdict %+v", v.exp)
	}
	if r.stats.ExpectInVerdict.Load() != 1 {
		t.Fatal("expectation in verdict not counted")
	}
}

// A parser that stretches its master (dhcpv6, amanda) gets CTA_TIMEOUT in
// the verdict's NFQA_CT, next to the expectation for the unconfirmed
// master; a parser that does not leaves the timeout alone.
func TestHandleMasterTimeout(t *testing.T) {
	for _, secs := range []uint32{0, 120} {
		r := newRig(t, parserFunc(func(p *cthelper.Packet, res *cthelper.Result) error {
			res.AddExpect(cthelper.Expect{Proto: unix.IPPROTO_UDP, Dst: client, DstPort: 546})
			res.Timeout = secs
			return nil
		}), ExpectAuto)
		if err := r.w.serveOne(r.packet(t, false, nil)); err != nil {
			t.Fatal(err)
		}
		v := r.verdict(t)
		if v.timeout != secs || v.exp == nil || v.helper != "" {
			t.Fatalf("Timeout %d: verdict %+v", secs, v)
		}
		if got := r.stats.TimeoutUpdates.Load(); got != uint64(min(secs, 1)) {
			t.Fatalf("Timeout %d: %d timeout updates counted", secs, got)
		}
	}
}

// natPortParser announces port 50000 for a NATed expectation, as ftp's
// PORT does behind masquerade: the payload's first five bytes carry the
// port, and RenumberPort re-renders them.
type natPortParser struct{}

func (natPortParser) Parse(p *cthelper.Packet, r *cthelper.Result) error {
	r.AddAnnounced(cthelper.Expect{Proto: unix.IPPROTO_TCP, Src: server, Dst: client, AnySrcPort: true, DstPort: 50000,
		NAT: true, NATDir: cthelper.Reply, NATAddr: client, NATPort: 50000},
		cthelper.Rewrite{Off: 0, Len: 5, Data: []byte("50000")})
	return nil
}

func (natPortParser) RenumberPort(r *cthelper.Result, i int, port uint16) error {
	k, ok := r.Expects[i].Announcement()
	if !ok {
		return errors.New("not announced")
	}
	r.Expects[i].DstPort = port
	r.Rewrites[k].Data = strconv.AppendUint(r.Scratch[:0], uint64(port), 10)
	return nil
}

// Under NAT, a port another connection's expectation holds (EBUSY, or
// EEXIST with another master) moves the expectation to the next port
// before the rewritten payload leaves; an expectation of this master
// already in place (a retransmission) counts as made; with no free port
// the packet is dropped unchanged.
func TestHandleNATPortClash(t *testing.T) {
	other := ctnetlink.Tuple{Src: netip.MustParseAddr("10.0.0.9"), Dst: server, Proto: unix.IPPROTO_TCP, SrcPort: 40001, DstPort: 21}
	busy := make([]int, maxPortTries)
	for i := range busy {
		busy[i] = int(unix.EBUSY)
	}
	for _, c := range []struct {
		name       string
		creates    []int
		holder     ctnetlink.Tuple
		tried      []uint16
		verdict    uint32
		payload    string // the verdict's new payload's start; "" for none
		renumbered uint64
		failed     uint64
	}{
		{"free", nil, orig, []uint16{50000}, nfq.Accept, "50000", 0, 0},
		{"taken twice", []int{int(unix.EBUSY), int(unix.EEXIST)}, other, []uint16{50000, 50001, 50002}, nfq.Accept, "50002", 2, 0},
		{"retransmission", []int{int(unix.EEXIST)}, orig, []uint16{50000}, nfq.Accept, "50000", 0, 0},
		{"refused", []int{int(unix.ENOENT)}, orig, []uint16{50000}, nfq.Accept, "50000", 0, 1},
		{"no free port", busy, orig, nil, nfq.Drop, "", maxPortTries - 1, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := newRig(t, natPortParser{}, ExpectAuto)
			r.syncK.creates, r.syncK.holder = c.creates, c.holder
			if err := r.w.serveOne(r.packet(t, true, nil)); err != nil {
				t.Fatal(err)
			}
			if c.tried != nil && !slices.Equal(r.syncK.tried, c.tried) {
				t.Errorf("ports tried %v, want %v", r.syncK.tried, c.tried)
			}
			if c.tried == nil && len(r.syncK.tried) != maxPortTries {
				t.Errorf("%d ports tried, want %d", len(r.syncK.tried), maxPortTries)
			}
			v := r.verdict(t)
			ip := 20 + 20 // the test packet's IPv4 and TCP headers
			if v.verdict != c.verdict || (c.payload == "") != (v.payload == nil) ||
				(v.payload != nil && !strings.HasPrefix(string(v.payload[ip:]), c.payload)) {
				t.Errorf("verdict %d with payload %q, want %d with %q", v.verdict, v.payload, c.verdict, c.payload)
			}
			if n := len(r.queueK.messages(typExpNew)); n != 0 {
				t.Errorf("%d expectations also sent with the verdict", n)
			}
			if got := r.stats.PortRenumbers.Load(); got != c.renumbered {
				t.Errorf("%d renumbers counted, want %d", got, c.renumbered)
			}
			if got := r.stats.ExpectFailed.Load(); got != c.failed {
				t.Errorf("%d failures counted, want %d", got, c.failed)
			}
		})
	}
}

// --expect-via verdict: the first in the verdict, the rest via ctnetlink;
// a refusal is counted and logged.
func TestHandleExpectViaVerdictAndFailure(t *testing.T) {
	r := newRig(t, parserFunc(func(p *cthelper.Packet, res *cthelper.Result) error {
		pasvExpect(res)
		pasvExpect(res)
		return nil
	}), ExpectVerdict)
	if err := r.w.serveOne(r.packet(t, true, nil)); err != nil {
		t.Fatal(err)
	}
	if v := r.verdict(t); v.exp == nil {
		t.Fatal("no expectation in the verdict")
	}
	// The kernel refuses the second one on the queue's socket.
	r.w.onAck(ctnl.Ack{Type: typExpNew, Err: &ctnl.Error{Op: "request", Err: unix.EBUSY}})
	if len(r.queueK.messages(typExpNew)) != 1 || r.stats.ExpectFailed.Load() != 1 || r.stats.ExpectInVerdict.Load() != 1 {
		t.Fatalf("ctnetlink %d, failed %d", len(r.queueK.messages(typExpNew)), r.stats.ExpectFailed.Load())
	}
	if !strings.Contains(r.logs.String(), "expectation refused") || !strings.Contains(r.logs.String(), "EBUSY") {
		t.Fatalf("refusal not logged: %s", r.logs)
	}
}

// A panicking parser costs one packet its help, never the engine; the
// panic is counted and logged once per period.
func TestHandlePanicIsContained(t *testing.T) {
	r := newRig(t, parserFunc(func(p *cthelper.Packet, res *cthelper.Result) error {
		panic("parser bug")
	}), ExpectAuto)
	for range 3 {
		r.queueK.sent = nil
		if err := r.w.serveOne(r.packet(t, true, nil)); err != nil {
			t.Fatal(err)
		}
		if v := r.verdict(t); v.verdict != nfq.Accept || v.hasCT {
			t.Fatalf("verdict after panic %+v, want a plain ACCEPT", v)
		}
	}
	if r.stats.Panics.Load() != 3 {
		t.Fatalf("%d panics counted, want 3", r.stats.Panics.Load())
	}
	if n := strings.Count(r.logs.String(), "panicked"); n != 1 {
		t.Fatalf("panic logged %d times in one period, want 1", n)
	}
}

// Malformed packets and parser errors: accepted un-helped and counted.
func TestHandleMalformed(t *testing.T) {
	r := newRig(t, parserFunc(func(p *cthelper.Packet, res *cthelper.Result) error {
		return errors.New("bad command")
	}), ExpectAuto)
	cases := []func(p *nfq.Packet){
		func(p *nfq.Packet) { p.Payload = p.Payload[:10] },
		func(p *nfq.Packet) { p.CT = p.CT[:10] },
		func(p *nfq.Packet) { p.CT = nil },
		func(p *nfq.Packet) { p.CapLen = 9000 },
		func(p *nfq.Packet) {}, // parser error
	}
	for _, mod := range cases {
		r.queueK.sent = nil
		p := r.packet(t, true, nil)
		mod(p)
		if err := r.w.serveOne(p); err != nil {
			t.Fatal(err)
		}
		if v := r.verdict(t); v.verdict != nfq.Accept || v.hasCT || v.exp != nil {
			t.Fatalf("verdict %+v, want a plain ACCEPT", v)
		}
	}
	if r.stats.Malformed.Load() != 3 || r.stats.NoConntrack.Load() != 1 || r.stats.ParseErrors.Load() != 1 {
		t.Fatalf("malformed %d, no conntrack %d, parse errors %d", r.stats.Malformed.Load(), r.stats.NoConntrack.Load(), r.stats.ParseErrors.Load())
	}
}

// A rewrite and a DROP verdict reach the kernel as asked.
func TestHandleRewriteAndDrop(t *testing.T) {
	r := newRig(t, parserFunc(func(p *cthelper.Packet, res *cthelper.Result) error {
		i := bytes.Index(p.Payload, []byte("10,0,0,1"))
		n := copy(res.Scratch[:], "192,168,100,200")
		res.AddRewrite(cthelper.Rewrite{Off: i, Len: 8, Data: res.Scratch[:n]})
		res.Verdict = cthelper.Drop
		return nil
	}), ExpectAuto)
	if err := r.w.serveOne(r.packet(t, true, nil)); err != nil {
		t.Fatal(err)
	}
	v := r.verdict(t)
	if v.verdict != nfq.Drop || !bytes.Equal(v.payload, mustHex(t, v4Reply227Long)) {
		t.Fatalf("verdict %d payload %x", v.verdict, v.payload)
	}
	if r.stats.Dropped.Load() != 1 || r.stats.PayloadRewrites.Load() != 1 {
		t.Fatal("drop or rewrite not counted")
	}
}

// A TCP rewrite that changes the payload's length carries NFQA_CT even
// with nothing else to say about the conntrack: only then does the kernel
// shift the NATed connection's sequence numbers for the rest of the
// stream. A rewrite of the same length needs none.
func TestHandleLengthChangingRewriteCarriesCT(t *testing.T) {
	for _, tc := range []struct {
		to     string
		wantCT bool
	}{{"192,168,100,200", true}, {"10,0,0,9", false}} {
		r := newRig(t, parserFunc(func(p *cthelper.Packet, res *cthelper.Result) error {
			i := bytes.Index(p.Payload, []byte("10,0,0,1"))
			n := copy(res.Scratch[:], tc.to)
			res.AddRewrite(cthelper.Rewrite{Off: i, Len: 8, Data: res.Scratch[:n]})
			return nil
		}), ExpectAuto)
		if err := r.w.serveOne(r.packet(t, true, nil)); err != nil {
			t.Fatal(err)
		}
		v := r.verdict(t)
		if v.payload == nil || v.hasCT != tc.wantCT || v.helper != "" || v.timeout != 0 || v.exp != nil {
			t.Errorf("rewrite to %s: verdict %+v, want NFQA_CT %v and nothing in it", tc.to, v, tc.wantCT)
		}
	}
}

// The common path — a packet the parser looks at and lets pass — does not
// allocate.
func TestHandleDoesNotAllocate(t *testing.T) {
	r := newRig(t, parserFunc(func(p *cthelper.Packet, res *cthelper.Result) error {
		p.Priv[0]++
		res.PrivChanged = true
		return nil
	}), ExpectAuto)
	// The fake socket allocates per message; count the engine alone.
	r.w.q = nil
	p := r.packet(t, true, make([]byte, 24))
	n := testing.AllocsPerRun(200, func() { r.w.prepare(p) })
	if n != 0 {
		t.Fatalf("%v allocations per packet, want 0", n)
	}
}

// An expectation naming a helper for the expected connection rides in the
// verdict even on a confirmed master: ctnetlink's expectation creation
// ignores the helper name. The others still go through ctnetlink.
func TestHandleHelperExpectInVerdict(t *testing.T) {
	r := newRig(t, parserFunc(func(p *cthelper.Packet, res *cthelper.Result) error {
		pasvExpect(res)
		res.AddExpect(cthelper.Expect{Proto: unix.IPPROTO_TCP, Src: server, Dst: client, AnySrcPort: true, DstPort: 42000, Helper: "ssdp"})
		return nil
	}), ExpectAuto)
	if err := r.w.serveOne(r.packet(t, true, nil)); err != nil {
		t.Fatal(err)
	}
	exps := r.queueK.messages(typExpNew)
	if len(exps) != 1 {
		t.Fatalf("%d expectations through ctnetlink, want 1", len(exps))
	}
	if e, err := expect.Decode(exps[0].Data[4:]); err != nil || e.Tuple.DstPort != 1025 || e.Helper != "" {
		t.Fatalf("through ctnetlink: %+v %v", e, err)
	}
	v := r.verdict(t)
	if v.exp == nil || v.exp.Helper != "ssdp" || v.exp.Tuple.DstPort != 42000 || v.exp.Master.Src.IsValid() {
		t.Fatalf("verdict %+v: want the ssdp expectation in NFQA_EXP", v)
	}
	if r.stats.ExpectInVerdict.Load() != 1 {
		t.Fatal("expectation in verdict not counted")
	}
}
