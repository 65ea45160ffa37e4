package replay

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/gonfct/gonfct/pkg/cthelper"
	"github.com/gonfct/gonfct/pkg/cthelper/builtin"
)

var update = flag.Bool("update", false, "rewrite generated test data (testdata/ftp-any.pcapng)")

func ftpHelper(t *testing.T, ports ...uint16) Helper {
	t.Helper()
	h, err := ForBuiltin(builtin.Registry, "ftp", nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(ports) > 0 {
		h.Ports = ports
	}
	return h
}

func run(t *testing.T, b []byte, h Helper) ([]Event, Stats) {
	t.Helper()
	frames, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	var evs []Event
	st := Run(frames, h, func(e Event) { evs = append(evs, e) })
	return evs, st
}

// dataSYNs lists the data connections of an FTP capture as tcpdump reads
// them, "SRC DST DPORT" for each SYN that is not to a control port: what
// every expectation must let in.
func dataSYNs(t *testing.T, path string, control ...string) []string {
	t.Helper()
	out, err := exec.Command("tcpdump", "-nn", "-r", path).Output()
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`IP6? (\S+)\.(\d+) > (\S+)\.(\d+): Flags \[S\],`)
	var syns []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		m := re.FindStringSubmatch(sc.Text())
		if m == nil || slices.Contains(control, m[4]) {
			continue
		}
		syns = append(syns, m[1]+" "+m[3]+" "+m[4])
	}
	return syns
}

func expectTuples(evs []Event) []string {
	var got []string
	for _, e := range evs {
		if e.Kind == KindExpect {
			x := e.Expect.Tuple
			got = append(got, fmt.Sprintf("%s %s %d", x.Src, x.Dst, x.DstPort))
		}
	}
	return got
}

// Every data connection of real curl-pyftpdlib sessions (EPSV, PASV, EPRT,
// PORT; IPv4 and IPv6) was expected, on the packet that announced it, and
// nothing else was.
func TestFTPSessions(t *testing.T) {
	for _, c := range []struct {
		file    string
		ports   []uint16
		control []string
		n       int
	}{
		{"testdata/ftp.pcap", []uint16{21, 2121}, []string{"21", "2121"}, 7},
		{"testdata/ftp.pcap", []uint16{21}, []string{"21", "2121"}, 6},
		{"testdata/ftp-any.pcap", nil, []string{"21"}, 2},
	} {
		evs, st := run(t, readFile(t, c.file), ftpHelper(t, c.ports...))
		got := expectTuples(evs)
		want := dataSYNs(t, c.file, c.control...)
		if len(c.ports) == 1 { // the session on 2121 is not the helper's
			want = slices.DeleteFunc(want, func(s string) bool { return strings.HasSuffix(s, " 41805") })
		}
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) || len(got) != c.n {
			t.Errorf("%s ports %v: expectations %v, data connections %v", c.file, c.ports, got, want)
		}
		if st.Expects != c.n || st.Errors != 0 || st.Malformed != 0 || st.Retransmits != 0 || st.Gaps != 0 {
			t.Errorf("%s: %+v", c.file, st)
		}
		// The master is the control connection, to one of its ports.
		for _, e := range evs {
			if e.Kind == KindExpect && (e.Expect.Timeout != 300 || !slices.Contains(c.control, fmt.Sprint(e.Expect.Master.DstPort)) || !e.Expect.Master.Src.IsValid()) {
				t.Errorf("%s: packet %d: %+v", c.file, e.Packet, e.Expect)
			}
		}
	}
}

// pcapRecords splits a little-endian classic pcap into header and records.
func pcapRecords(b []byte) (hdr []byte, recs [][]byte) {
	hdr = b[:24]
	for off := 24; off < len(b); {
		n := int(binary.LittleEndian.Uint32(b[off+8:]))
		recs = append(recs, b[off:off+16+n])
		off += 16 + n
	}
	return hdr, recs
}

func joinPcap(hdr []byte, recs [][]byte) []byte {
	return append(bytes.Clone(hdr), bytes.Join(recs, nil)...)
}

// A retransmitted reply is reported and not parsed twice; a lost segment
// shows as a gap before the next one.
func TestRetransmissionAndGap(t *testing.T) {
	hdr, recs := pcapRecords(readFile(t, "testdata/ftp.pcap"))
	// Packet 14 is the first session's "229 Entering extended passive mode".
	dup := slices.Insert(slices.Clone(recs), 14, recs[13])
	evs, st := run(t, joinPcap(hdr, dup), ftpHelper(t))
	if st.Expects != 6 || st.Retransmits != 1 {
		t.Fatalf("duplicated 229: %+v", st)
	}
	i := slices.IndexFunc(evs, func(e Event) bool { return e.Kind == KindRetransmit })
	if evs[i].Packet != 15 || evs[i].SrcPort != 21 || evs[i].Dir != cthelper.Reply {
		t.Errorf("retransmission event %+v", evs[i])
	}

	// Without packet 13 (the client's EPSV), the client's next segment
	// (now packet 17) comes after a hole; the 229 still announces its port.
	lost := slices.Delete(slices.Clone(recs), 12, 13)
	evs, st = run(t, joinPcap(hdr, lost), ftpHelper(t))
	if st.Gaps != 1 || st.Expects != 6 {
		t.Fatalf("lost EPSV: %+v", st)
	}
	i = slices.IndexFunc(evs, func(e Event) bool { return e.Kind == KindGap })
	if evs[i].Packet != 17 || evs[i].Dir != cthelper.Original || !strings.Contains(evs[i].Err, "6 bytes before this segment are missing") {
		t.Errorf("gap event %+v", evs[i])
	}
}

// A capture that starts in the middle of the control connections (no
// handshake) still gives each flow its direction from the helper's port.
func TestMidStream(t *testing.T) {
	hdr, recs := pcapRecords(readFile(t, "testdata/ftp.pcap"))
	// Start at packet 11 (the client's PWD), after the first handshake.
	evs, st := run(t, joinPcap(hdr, recs[10:]), ftpHelper(t))
	if st.Expects != 6 {
		t.Fatalf("mid-stream: %+v", st)
	}
	if evs[0].Kind != KindExpect || evs[0].Packet != 4 || evs[0].Expect.Tuple.DstPort != 36907 {
		t.Errorf("first event %+v", evs[0])
	}
}

// The capture kept only part of a packet: said, and parsed as far as kept.
func TestSnapLength(t *testing.T) {
	hdr, recs := pcapRecords(readFile(t, "testdata/ftp.pcap"))
	r := bytes.Clone(recs[13]) // the 229 reply, 49 payload bytes
	binary.LittleEndian.PutUint32(r[8:], binary.LittleEndian.Uint32(r[8:])-30)
	recs[13] = r[:len(r)-30]
	evs, _ := run(t, joinPcap(hdr, recs), ftpHelper(t))
	i := slices.IndexFunc(evs, func(e Event) bool { return e.Packet == 14 })
	if i < 0 || evs[i].Kind != KindMalformed || !strings.Contains(evs[i].Err, "snap length") {
		t.Fatalf("events for the cut packet: %+v", evs)
	}
}

// A packet whose TCP header is cut short is reported with its number.
func TestUndecodable(t *testing.T) {
	hdr, recs := pcapRecords(readFile(t, "testdata/ftp.pcap"))
	r := bytes.Clone(recs[3])
	// IPv4 total length 30: 10 bytes of a TCP header.
	binary.BigEndian.PutUint16(r[16+14+2:], 30)
	recs[3] = r
	evs, _ := run(t, joinPcap(hdr, recs), ftpHelper(t))
	if evs[0].Packet != 4 || evs[0].Kind != KindMalformed || !strings.Contains(evs[0].Err, "truncated TCP or UDP header") {
		t.Fatalf("first event %+v", evs[0])
	}
}

// testdata/ftp-any.pcapng is ftp-any.pcap rewritten as pcapng (go test
// -update regenerates it): the same events come out of both.
func TestPcapngFile(t *testing.T) {
	pcap := readFile(t, "testdata/ftp-any.pcap")
	if *update {
		if err := os.WriteFile("testdata/ftp-any.pcapng", toPcapng(t, pcap, binary.LittleEndian, false), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	a, _ := run(t, pcap, ftpHelper(t))
	b, _ := run(t, readFile(t, "testdata/ftp-any.pcapng"), ftpHelper(t))
	if len(a) != 2 || fmt.Sprint(a) != fmt.Sprint(b) {
		t.Errorf("pcap %v\npcapng %v", a, b)
	}
}

func TestForBuiltin(t *testing.T) {
	if _, err := ForBuiltin(builtin.Registry, "nosuch", nil); err == nil {
		t.Error("unknown helper accepted")
	}
	if _, err := ForBuiltin(builtin.Registry, "ftp", cthelper.Options{"bogus": "1"}); err == nil {
		t.Error("unknown option accepted")
	}
	h := ftpHelper(t)
	if h.PrivLen != 24 || h.Timeout != 300 || !slices.Equal(h.Ports, []uint16{21}) {
		t.Errorf("ftp helper %+v", h)
	}
}
