package ftp

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/gonfct/gonfct/pkg/cthelper"
	"github.com/gonfct/gonfct/pkg/ctnetlink"
	"golang.org/x/sys/unix"
)

var (
	client4 = netip.MustParseAddr("10.0.0.2")
	server4 = netip.MustParseAddr("10.0.0.1")
	client6 = netip.MustParseAddr("2001:db8::2")
	server6 = netip.MustParseAddr("2001:db8::1")
)

const lineStart = 1000 // the sequence number tests start lines at

// flow is a control connection: its tuples and private data.
type flow struct {
	orig, reply ctnetlink.Tuple
	priv        [PrivLen]byte
}

func newFlow(client, server netip.Addr) *flow {
	f := &flow{
		orig:  ctnetlink.Tuple{Src: client, Dst: server, Proto: unix.IPPROTO_TCP, SrcPort: 40000, DstPort: 21},
		reply: ctnetlink.Tuple{Src: server, Dst: client, Proto: unix.IPPROTO_TCP, SrcPort: 21, DstPort: 40000},
	}
	// Both directions know lineStart follows a newline.
	st := state{num: [2]uint16{1, 1}}
	st.seq[0][0], st.seq[1][0] = lineStart, lineStart
	st.store(f.priv[:])
	return f
}

func (f *flow) packet(dir cthelper.Direction, seq uint32, payload string) *cthelper.Packet {
	fam := uint8(unix.AF_INET)
	if f.orig.Src.Is6() {
		fam = unix.AF_INET6
	}
	info := cthelper.Established
	t := f.orig
	if dir == cthelper.Reply {
		info, t = cthelper.EstablishedReply, f.reply
	}
	return &cthelper.Packet{Family: fam, Proto: unix.IPPROTO_TCP, Dir: dir, Info: info,
		Src: t.Src, Dst: t.Dst, SrcPort: t.SrcPort, DstPort: t.DstPort, Seq: seq,
		Orig: f.orig, Reply: f.reply, Payload: []byte(payload), Priv: f.priv[:]}
}

func parseWith(t *testing.T, opts cthelper.Options, p *cthelper.Packet) (*cthelper.Result, error) {
	t.Helper()
	parser, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	r := &cthelper.Result{}
	r.Reset()
	return r, parser.Parse(p, r)
}

func exp(src, dst netip.Addr, port uint16) cthelper.Expect {
	return cthelper.Expect{Proto: unix.IPPROTO_TCP, Src: src, AnySrcPort: true, Dst: dst, DstPort: port}
}

func TestForms(t *testing.T) {
	O, R := cthelper.Original, cthelper.Reply
	for _, tc := range []struct {
		name    string
		v6      bool
		dir     cthelper.Direction
		payload string
		want    []cthelper.Expect
	}{
		{"PORT", false, O, "PORT 10,0,0,2,4,1\r\n", []cthelper.Expect{exp(server4, client4, 1025)}},
		{"PORT lower case, spaces, bare LF", false, O, "port   10,0,0,2,195,80\n", []cthelper.Expect{exp(server4, client4, 50000)}},
		{"PORT leading zeros", false, O, "PORT 010,000,000,002,004,001\r\n", []cthelper.Expect{exp(server4, client4, 1025)}},
		{"EPRT |1|", false, O, "EPRT |1|10.0.0.2|6275|\r\n", []cthelper.Expect{exp(server4, client4, 6275)}},
		{"EPRT other delimiter", false, O, "eprt !1!10.0.0.2!6275!\r\n", []cthelper.Expect{exp(server4, client4, 6275)}},
		{"EPRT |2|", true, O, "EPRT |2|2001:db8::2|5282|\r\n", []cthelper.Expect{exp(server6, client6, 5282)}},
		{"EPRT |2| long form", true, O, "EPRT |2|2001:0db8:0:0:0:0:0:0002|5282|\r\n", []cthelper.Expect{exp(server6, client6, 5282)}},
		{"227", false, R, "227 Entering Passive Mode (10,0,0,1,39,16).\r\n", []cthelper.Expect{exp(client4, server4, 10000)}},
		{"227 without parentheses (RFC 1123)", false, R, "227 Entering Passive Mode 10,0,0,1,39,16\r\n", []cthelper.Expect{exp(client4, server4, 10000)}},
		{"227 =", false, R, "227 =10,0,0,1,39,16\r\n", []cthelper.Expect{exp(client4, server4, 10000)}},
		{"229", false, R, "229 Entering Extended Passive Mode (|||6446|)\r\n", []cthelper.Expect{exp(client4, server4, 6446)}},
		{"229 IPv6", true, R, "229 Extended Passive (|||6446|)\r\n", []cthelper.Expect{exp(client6, server6, 6446)}},
		{"229 other delimiter", false, R, "229 ok (!!!6446!)\r\n", []cthelper.Expect{exp(client4, server4, 6446)}},
		{"two lines in one segment", false, O, "TYPE I\r\nPORT 10,0,0,2,4,1\r\nPORT 10,0,0,2,4,2\r\n",
			[]cthelper.Expect{exp(server4, client4, 1025), exp(server4, client4, 1026)}},
		{"PORT in the reply direction", false, R, "PORT 10,0,0,1,4,1\r\n", nil},
		{"227 in the original direction", false, O, "227 Entering Passive Mode (10,0,0,2,39,16).\r\n", nil},
		{"other commands", false, O, "PASV\r\nEPSV\r\nPORTS 1\r\nRETR PORT 10,0,0,2,4,1\r\n", nil},
		{"other replies", false, R, "226 Transfer complete.\r\n150 (10,0,0,1,39,16)\r\n2271 x\r\n", nil},
		{"multi-line reply continuation", false, R, "211-Features:\r\n 227 (10,0,0,1,39,16)\r\n211 End\r\n", nil},
	} {
		f := newFlow(client4, server4)
		if tc.v6 {
			f = newFlow(client6, server6)
		}
		r, err := parseWith(t, nil, f.packet(tc.dir, lineStart, tc.payload))
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		got := r.Expects[:r.NExpects]
		if len(got) != len(tc.want) || r.Verdict != cthelper.Accept || r.NRewrites != 0 {
			t.Errorf("%s: %d expectations %+v, verdict %d, rewrites %d; want %+v", tc.name, len(got), got, r.Verdict, r.NRewrites, tc.want)
			continue
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Errorf("%s: expectation %d %+v, want %+v", tc.name, i, got[i], tc.want[i])
			}
		}
		if !r.PrivChanged {
			t.Errorf("%s: line start after the segment not recorded", tc.name)
		}
	}
}

func TestLineTracking(t *testing.T) {
	f := newFlow(client4, server4)
	parser, _ := New(nil)
	run := func(dir cthelper.Direction, seq uint32, payload string) *cthelper.Result {
		t.Helper()
		r := &cthelper.Result{}
		r.Reset()
		if err := parser.Parse(f.packet(dir, seq, payload), r); err != nil {
			t.Fatalf("%q: %v", payload, err)
		}
		return r
	}
	O := cthelper.Original

	// Not at a known line start: the first line is not read.
	if r := run(O, 5000, "PORT 10,0,0,2,4,1\r\n"); r.NExpects != 0 || !r.PrivChanged {
		t.Errorf("line at an unknown position was read (%d) or its end not recorded", r.NExpects)
	}
	// ...but its end is now known, so the next segment is read.
	if r := run(O, 5000+19, "PORT 10,0,0,2,4,2\r\n"); r.NExpects != 1 || r.Expects[0].DstPort != 1026 {
		t.Errorf("segment after a recorded line end not read: %+v", r.Expects[:r.NExpects])
	}
	// A line after a newline in a segment at an unknown position is read.
	if r := run(O, 9000, "ZZ\r\nPORT 10,0,0,2,4,3\r\n"); r.NExpects != 1 || r.Expects[0].DstPort != 1027 {
		t.Errorf("line after a newline not read: %d", r.NExpects)
	}
	// A continuation (not at a line start, no newline) is not read.
	if r := run(O, 7777, "PORT 10,0,0,2,4,4\r\n"); r.NExpects != 0 {
		t.Error("continuation read as a line")
	}

	// The last two line starts are remembered: a retransmission of the
	// segment before the last one is still read.
	g := newFlow(client4, server4)
	f = g
	run(O, lineStart, "CWD /\r\n")    // line start lineStart+7
	run(O, lineStart+7, "TYPE I\r\n") // line start lineStart+15
	if r := run(O, lineStart+7, "PORT 10,0,0,2,4,5\r\n"); r.NExpects != 1 {
		t.Error("retransmission at the older known line start not read")
	}
	st, _ := loadState(g.priv[:])
	if st.num[0] != 2 || !st.atLineStart(0, lineStart+15) || !st.atLineStart(0, lineStart+7+19) {
		t.Errorf("state %+v", st)
	}
	// An older segment's end does not push out newer line starts.
	run(O, 10, "NOOP\r\n")
	st, _ = loadState(g.priv[:])
	if st.atLineStart(0, 16) {
		t.Error("stale line start recorded")
	}
	// Directions are tracked apart.
	if st.num[1] != 1 || st.seq[1][0] != lineStart {
		t.Errorf("reply direction touched: %+v", st)
	}

	// Sequence numbers wrap.
	var w state
	w.recordLineStart(0, 0xfffffff0)
	w.recordLineStart(0, 0xfffffff8)
	if !w.recordLineStart(0, 8) || !w.atLineStart(0, 8) || w.atLineStart(0, 0xfffffff0) || !w.atLineStart(0, 0xfffffff8) {
		t.Errorf("wrap: %+v", w)
	}
}

func TestPrivLayout(t *testing.T) {
	// The kernel's struct nf_ct_ftp_master in host byte order.
	var s state
	s.recordLineStart(0, 0x01020304)
	s.recordLineStart(1, 0x0a0b0c0d)
	s.recordLineStart(1, 0x0a0b0c0e)
	s.flags[1] = 1
	var b [PrivLen]byte
	s.store(b[:])
	want := [PrivLen]byte{}
	host.PutUint32(want[0:], 0x01020304)
	host.PutUint32(want[8:], 0x0a0b0c0d)
	host.PutUint32(want[12:], 0x0a0b0c0e)
	host.PutUint16(want[16:], 1)
	host.PutUint16(want[18:], 2)
	host.PutUint16(want[22:], 1)
	if b != want {
		t.Errorf("layout % x\nwant   % x", b, want)
	}
	if back, ok := loadState(b[:]); !ok || back != s {
		t.Errorf("round trip %+v, want %+v", back, s)
	}
	// A count beyond 2 (garbage) is clamped.
	host.PutUint16(b[16:], 9)
	if back, _ := loadState(b[:]); back.num[0] != 2 {
		t.Errorf("count %d", back.num[0])
	}
}

func TestSplitCommands(t *testing.T) {
	O, R := cthelper.Original, cthelper.Reply
	for _, tc := range []struct {
		dir     cthelper.Direction
		payload string
		drop    bool
	}{
		{O, "PORT 10,0,0", true},
		{O, "PORT 10,0,0,2,4,1", true},
		{O, "PORT 10,0,0,2,4,1\r", true},
		{O, "P", true},
		{O, "ep", true},
		{O, "EPRT |1|10.0.0.2|", true},
		{O, "SYST\r\nPO", true},
		{O, "PORT 10,0,0,2,4,1\r\nEPRT |1|", true},
		{R, "227 Entering (10,0,", true},
		{R, "22", true},
		{R, "230 Login successful.\r\n229 (|||", true},
		{O, "SYST", false},
		{O, "USER anonymous", false},
		{O, "SYST\r\nLIST", false},
		{R, "230 Login", false},
		{R, "228", false},
	} {
		f := newFlow(client4, server4)
		before := f.priv
		r, err := parseWith(t, nil, f.packet(tc.dir, lineStart, tc.payload))
		if err != nil {
			t.Errorf("%q: %v", tc.payload, err)
		}
		if got := r.Verdict == cthelper.Drop; got != tc.drop {
			t.Errorf("%q: drop %v, want %v", tc.payload, got, tc.drop)
		}
		if tc.drop && (r.NExpects != 0 || r.NRewrites != 0 || r.PrivChanged || f.priv != before) {
			t.Errorf("%q: dropped packet still changed something: %d expects, priv changed %v", tc.payload, r.NExpects, r.PrivChanged)
		}
		if r.PrivChanged {
			t.Errorf("%q: a segment ending mid-line recorded a line start", tc.payload)
		}
	}

	// The retransmission that carries the whole line is read.
	f := newFlow(client4, server4)
	if r, _ := parseWith(t, nil, f.packet(O, lineStart, "PORT 10,0,0,2,4,1")); r.Verdict != cthelper.Drop {
		t.Fatal("cut PORT not dropped")
	}
	if r, _ := parseWith(t, nil, f.packet(O, lineStart, "PORT 10,0,0,2,4,1\r\n")); r.NExpects != 1 || r.Verdict != cthelper.Accept {
		t.Errorf("whole retransmission: %d expectations, verdict %d", r.NExpects, r.Verdict)
	}
	// The second half alone, at no known line start, is not a command.
	g := newFlow(client4, server4)
	if r, _ := parseWith(t, nil, g.packet(O, lineStart+11, ",2,4,1\r\n")); r.NExpects != 0 || r.Verdict != cthelper.Accept {
		t.Error("continuation parsed")
	}
}

func TestRefused(t *testing.T) {
	O, R := cthelper.Original, cthelper.Reply
	other := netip.MustParseAddr("192.168.1.9")
	for _, tc := range []struct {
		name    string
		v6      bool
		dir     cthelper.Direction
		payload string
		opts    cthelper.Options
		want    *cthelper.Expect // with the option that allows it
		msg     string
	}{
		{"PORT bounce", false, O, "PORT 192,168,1,9,4,1\r\n", cthelper.Options{"loose": "yes"},
			&cthelper.Expect{Proto: unix.IPPROTO_TCP, Src: server4, AnySrcPort: true, Dst: other, DstPort: 1025},
			"refused PORT: announces 192.168.1.9, not the sender's own 10.0.0.2 (Option loose yes allows it)"},
		{"EPRT bounce", false, O, "EPRT |1|192.168.1.9|1025|\r\n", cthelper.Options{"loose": "on"},
			&cthelper.Expect{Proto: unix.IPPROTO_TCP, Src: server4, AnySrcPort: true, Dst: other, DstPort: 1025}, "refused EPRT: announces 192.168.1.9"},
		{"227 bounce", false, R, "227 (192,168,1,9,4,1)\r\n", cthelper.Options{"loose": "1"},
			&cthelper.Expect{Proto: unix.IPPROTO_TCP, Src: client4, AnySrcPort: true, Dst: other, DstPort: 1025}, "refused 227: announces 192.168.1.9, not the sender's own 10.0.0.1"},
		{"PORT low port", false, O, "PORT 10,0,0,2,0,21\r\n", cthelper.Options{"low-ports": "yes"},
			&cthelper.Expect{Proto: unix.IPPROTO_TCP, Src: server4, AnySrcPort: true, Dst: client4, DstPort: 21},
			"refused PORT: data port 21 is below 1024 (Option low-ports yes allows it)"},
		{"229 low port", false, R, "229 (|||1023|)\r\n", cthelper.Options{"low-ports": "true"},
			&cthelper.Expect{Proto: unix.IPPROTO_TCP, Src: client4, AnySrcPort: true, Dst: server4, DstPort: 1023}, "data port 1023 is below 1024"},
		{"EPRT |2| on IPv4", false, O, "EPRT |2|2001:db8::2|5000|\r\n", cthelper.Options{"loose": "yes"}, nil, "refused EPRT: announces 2001:db8::2 on an IPv4 connection"},
		{"PORT on IPv6", true, O, "PORT 10,0,0,2,4,1\r\n", cthelper.Options{"loose": "yes"}, nil, "refused PORT: announces 10.0.0.2 on an IPv6 connection"},
		{"227 on IPv6", true, R, "227 (10,0,0,1,4,1)\r\n", cthelper.Options{"loose": "yes"}, nil, "on an IPv6 connection"},
	} {
		f := newFlow(client4, server4)
		if tc.v6 {
			f = newFlow(client6, server6)
		}
		r, err := parseWith(t, nil, f.packet(tc.dir, lineStart, tc.payload))
		if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), tc.msg) || r.NExpects != 0 {
			t.Errorf("%s: %v, %d expectations; want %q", tc.name, err, r.NExpects, tc.msg)
		}
		if !r.PrivChanged {
			t.Errorf("%s: line tracking not kept on refusal", tc.name)
		}
		g := newFlow(f.orig.Src, f.orig.Dst)
		r, err = parseWith(t, tc.opts, g.packet(tc.dir, lineStart, tc.payload))
		if tc.want == nil {
			if err == nil || r.NExpects != 0 {
				t.Errorf("%s with %v: %v, %d expectations", tc.name, tc.opts, err, r.NExpects)
			}
			continue
		}
		if err != nil || r.NExpects != 1 || r.Expects[0] != *tc.want {
			t.Errorf("%s with %v: %v, %+v", tc.name, tc.opts, err, r.Expects[:r.NExpects])
		}
	}
}

func TestMalformed(t *testing.T) {
	O, R := cthelper.Original, cthelper.Reply
	for _, tc := range []struct {
		dir     cthelper.Direction
		payload string
	}{
		{O, "PORT\r\n"[:4] + " \r\n"},
		{O, "PORT 10,0,0,2,4\r\n"},
		{O, "PORT 10,0,0,2,4,1,5\r\n"},
		{O, "PORT 10,0,0,256,4,1\r\n"},
		{O, "PORT 10,0,0,2,4,1x\r\n"},
		{O, "PORT 10,0,0,2,4,1000\r\n"},
		{O, "PORT 10,,0,2,4,1\r\n"},
		{O, "PORT a,b,c,d,e,f\r\n"},
		{O, "PORT 10,0,0,2,0,0\r\n"},
		{O, "EPRT |3|10.0.0.2|5000|\r\n"},
		{O, "EPRT |1|10.0.0.2|5000\r\n"},
		{O, "EPRT |1|10.0.0.2||\r\n"},
		{O, "EPRT |1|10.0.0.2|65536|\r\n"},
		{O, "EPRT |1|10.0.0.2|123456|\r\n"},
		{O, "EPRT |1|2001:db8::2|5000|\r\n"},
		{O, "EPRT |2|10.0.0.2|5000|\r\n"},
		{O, "EPRT |1||5000|\r\n"},
		{O, "EPRT |1|10.0.0.2%eth0|5000|\r\n"},
		{O, "EPRT |1|10.0.0.x|5000|\r\n"},
		{O, "EPRT 1|1|10.0.0.2|5000|\r\n"},
		{O, "EPRT | 1|10.0.0.2|5000|\r\n"},
		{O, "EPRT |1|\r\n"},
		{O, "EPRT |1|10.0.0.2|0|\r\n"},
		{R, "227 Entering Passive Mode\r\n"},
		{R, "227 (10,0,0,1,4)\r\n"},
		{R, "227 (10,0,0,1,4,300)\r\n"},
		{R, "229 Entering Extended Passive Mode\r\n"},
		{R, "229 (|||)\r\n"},
		{R, "229 (||6446|)\r\n"},
		{R, "229 (|||6446)\r\n"},
		{R, "229 (|||99999|)\r\n"},
		{R, "229 (1116446|)\r\n"},
		{R, "229 (|||0|)\r\n"},
		{R, "229 (|"},
	} {
		f := newFlow(client4, server4)
		payload := tc.payload
		if !strings.HasSuffix(payload, "\n") {
			payload += "\r\n"
		}
		r, err := parseWith(t, cthelper.Options{"loose": "yes", "low-ports": "yes"}, f.packet(tc.dir, lineStart, payload))
		if !errors.Is(err, ErrMalformed) || r.NExpects != 0 || r.Verdict != cthelper.Accept {
			t.Errorf("%q: %v, %d expectations, verdict %d", tc.payload, err, r.NExpects, r.Verdict)
		}
		if err != nil && (strings.Contains(err.Error(), "\n") || !strings.HasPrefix(err.Error(), "ftp: malformed ")) {
			t.Errorf("%q: error %q", tc.payload, err)
		}
	}

	// A malformed line does not hide a good one after it.
	f := newFlow(client4, server4)
	r, err := parseWith(t, nil, f.packet(O, lineStart, "PORT 1,2\r\nPORT 10,0,0,2,4,1\r\n"))
	if !errors.Is(err, ErrMalformed) || r.NExpects != 1 || !r.PrivChanged {
		t.Errorf("%v, %d expectations", err, r.NExpects)
	}
}

func TestIgnored(t *testing.T) {
	f := newFlow(client4, server4)
	for _, p := range []*cthelper.Packet{
		func() *cthelper.Packet {
			p := f.packet(0, lineStart, "PORT 10,0,0,2,4,1\r\n")
			p.Info = cthelper.New
			return p
		}(),
		func() *cthelper.Packet {
			p := f.packet(0, lineStart, "PORT 10,0,0,2,4,1\r\n")
			p.Info = cthelper.Related
			return p
		}(),
		func() *cthelper.Packet {
			p := f.packet(0, lineStart, "PORT 10,0,0,2,4,1\r\n")
			p.Proto = unix.IPPROTO_UDP
			return p
		}(),
		f.packet(0, lineStart, ""),
	} {
		r, err := parseWith(t, nil, p)
		if err != nil || r.NExpects != 0 || r.PrivChanged || r.Verdict != cthelper.Accept {
			t.Errorf("%+v: %v %+v", p, err, r)
		}
	}
	p := f.packet(0, lineStart, "PORT 10,0,0,2,4,1\r\n")
	p.Priv = p.Priv[:20]
	if _, err := parseWith(t, nil, p); err == nil || !strings.Contains(err.Error(), "private data is 20 bytes, want 24") {
		t.Errorf("short private data: %v", err)
	}
}

func TestNew(t *testing.T) {
	for _, tc := range []struct {
		opts cthelper.Options
		want string
	}{
		{cthelper.Options{"lose": "yes"}, `unknown option "lose": ftp has loose and low-ports`},
		{cthelper.Options{"loose": "maybe"}, `option loose: "maybe" is not yes or no`},
		{cthelper.Options{"low-ports": ""}, `option low-ports: "" is not yes or no`},
	} {
		if _, err := New(tc.opts); err == nil || err.Error() != tc.want {
			t.Errorf("%v: %v, want %q", tc.opts, err, tc.want)
		}
	}
	p, err := New(cthelper.Options{"loose": "Yes", "low-ports": "OFF"})
	if err != nil || !p.(*Parser).Loose || p.(*Parser).LowPorts {
		t.Errorf("%+v %v", p, err)
	}
}
