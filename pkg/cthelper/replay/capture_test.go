package replay

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
)

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// tcpdumpCount is how many packets tcpdump reads from a file.
func tcpdumpCount(t *testing.T, path string) int {
	t.Helper()
	out, err := exec.Command("tcpdump", "-n", "-r", path).Output()
	if err != nil {
		t.Fatalf("tcpdump -r %s: %v", path, err)
	}
	return bytes.Count(out, []byte("\n"))
}

func TestParseRealCaptures(t *testing.T) {
	for _, name := range []string{"testdata/ftp.pcap", "testdata/ftp-any.pcap"} {
		frames, err := Parse(readFile(t, name))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if want := tcpdumpCount(t, name); len(frames) != want {
			t.Errorf("%s: %d frames, tcpdump reads %d", name, len(frames), want)
		}
		v4, v6 := 0, 0
		for i, f := range frames {
			if f.Number != i+1 || f.IP == nil || f.Truncated {
				t.Fatalf("%s: frame %d: %+v", name, i, f)
			}
			switch f.IP[0] >> 4 {
			case 4:
				v4++
			case 6:
				v6++
			}
		}
		if v4 == 0 || (name == "testdata/ftp.pcap" && v6 == 0) {
			t.Errorf("%s: %d IPv4 and %d IPv6 frames", name, v4, v6)
		}
	}
}

// toPcapng rewrites a classic pcap (microsecond timestamps) as pcapng: a
// section header, one interface, one enhanced packet block per record.
// With nano, the interface says (if_tsresol) its timestamps count
// nanoseconds.
func toPcapng(t *testing.T, pcap []byte, order binary.AppendByteOrder, nano bool) []byte {
	t.Helper()
	var out []byte
	block := func(typ uint32, body []byte) {
		for len(body)%4 != 0 {
			body = append(body, 0)
		}
		n := uint32(12 + len(body))
		out = order.AppendUint32(out, typ)
		out = order.AppendUint32(out, n)
		out = append(out, body...)
		out = order.AppendUint32(out, n)
	}
	var shb []byte
	shb = order.AppendUint32(shb, 0x1a2b3c4d)
	shb = order.AppendUint16(shb, 1)
	shb = order.AppendUint16(shb, 0)
	shb = order.AppendUint64(shb, ^uint64(0))
	block(0x0a0d0d0a, shb)
	var idb []byte
	idb = order.AppendUint16(idb, uint16(binary.LittleEndian.Uint32(pcap[20:])))
	idb = order.AppendUint16(idb, 0)
	idb = order.AppendUint32(idb, 0)
	unit := uint64(1)
	if nano {
		idb = order.AppendUint16(idb, 9) // if_tsresol
		idb = order.AppendUint16(idb, 1)
		idb = append(idb, 9, 0, 0, 0)
		idb = order.AppendUint32(idb, 0) // opt_endofopt
		unit = 1000
	}
	block(1, idb)
	block(5, []byte("an interface statistics block, skipped"))
	for off := 24; off < len(pcap); {
		incl := int(binary.LittleEndian.Uint32(pcap[off+8:]))
		var epb []byte
		epb = order.AppendUint32(epb, 0)
		ts := (uint64(binary.LittleEndian.Uint32(pcap[off:]))*1e6 + uint64(binary.LittleEndian.Uint32(pcap[off+4:]))) * unit
		epb = order.AppendUint32(epb, uint32(ts>>32))
		epb = order.AppendUint32(epb, uint32(ts))
		epb = order.AppendUint32(epb, uint32(incl))
		epb = order.AppendUint32(epb, binary.LittleEndian.Uint32(pcap[off+12:]))
		epb = append(epb, pcap[off+16:off+16+incl]...)
		block(6, epb)
		off += 16 + incl
	}
	return out
}

func TestParsePcapng(t *testing.T) {
	pcap := readFile(t, "testdata/ftp.pcap")
	want, err := Parse(pcap)
	if err != nil {
		t.Fatal(err)
	}
	for i, order := range []binary.AppendByteOrder{binary.LittleEndian, binary.BigEndian} {
		got, err := Parse(toPcapng(t, pcap, order, i == 0))
		if err != nil {
			t.Fatalf("%v pcapng: %v", order, err)
		}
		if len(got) != len(want) {
			t.Fatalf("%v pcapng: %d frames, want %d", order, len(got), len(want))
		}
		for i := range got {
			if got[i].Number != want[i].Number || !bytes.Equal(got[i].IP, want[i].IP) || !got[i].Time.Equal(want[i].Time) || got[i].Time.IsZero() {
				t.Fatalf("%v pcapng frame %d differs", order, i+1)
			}
		}
	}
}

func TestParseBigEndianPcap(t *testing.T) {
	le := readFile(t, "testdata/ftp-any.pcap")
	be := make([]byte, 0, len(le))
	for i := 0; i < 24; i += 4 {
		if i == 4 { // version: two uint16
			be = binary.BigEndian.AppendUint16(be, binary.LittleEndian.Uint16(le[4:]))
			be = binary.BigEndian.AppendUint16(be, binary.LittleEndian.Uint16(le[6:]))
			continue
		}
		be = binary.BigEndian.AppendUint32(be, binary.LittleEndian.Uint32(le[i:]))
	}
	for off := 24; off < len(le); {
		incl := int(binary.LittleEndian.Uint32(le[off+8:]))
		for i := 0; i < 16; i += 4 {
			be = binary.BigEndian.AppendUint32(be, binary.LittleEndian.Uint32(le[off+i:]))
		}
		be = append(be, le[off+16:off+16+incl]...)
		off += 16 + incl
	}
	a, err1 := Parse(le)
	b, err2 := Parse(be)
	if err1 != nil || err2 != nil || len(a) != len(b) || !bytes.Equal(a[3].IP, b[3].IP) || !a[3].Time.Equal(b[3].Time) {
		t.Fatalf("big-endian pcap: %v %v, %d vs %d frames", err1, err2, len(a), len(b))
	}
}

func TestParseMalformed(t *testing.T) {
	pcap := readFile(t, "testdata/ftp.pcap")
	ng := toPcapng(t, pcap, binary.LittleEndian, false)
	unsupported := bytes.Clone(pcap)
	binary.LittleEndian.PutUint32(unsupported[20:], 147) // LINKTYPE_USER0
	tests := []struct {
		name   string
		b      []byte
		err    string
		frames int // frames read before the error
	}{
		{"empty", nil, "not a pcap or pcapng file", 0},
		{"text", []byte("hello, this is not a capture"), "not a pcap or pcapng file", 0},
		{"short header", pcap[:20], "pcap file header truncated", 0},
		{"cut in packet 3", pcap[:24+16+74+16+74+16+10], "file truncated in packet 3", 2},
		{"cut in a record header", pcap[:24+16+74+5], "record header of packet 2", 1},
		{"link type", unsupported, "link type 147 is not supported", 0},
		{"pcapng cut", ng[:len(ng)-7], "pcapng file truncated", 0},
	}
	first := int(binary.LittleEndian.Uint32(pcap[24+8:]))
	if first != 74 {
		t.Fatalf("the test assumes a 74-byte first frame (a SYN), got %d", first)
	}
	for _, tt := range tests {
		frames, err := Parse(tt.b)
		if err == nil || !strings.Contains(err.Error(), tt.err) {
			t.Errorf("%s: error %v, want %q", tt.name, err, tt.err)
			continue
		}
		if tt.name != "link type" && !errors.Is(err, ErrFormat) {
			t.Errorf("%s: %v is not ErrFormat", tt.name, err)
		}
		if tt.name != "pcapng cut" && len(frames) != tt.frames {
			t.Errorf("%s: %d frames before the error, want %d", tt.name, len(frames), tt.frames)
		}
	}
}

func TestLinkTypes(t *testing.T) {
	ip := []byte{0x45, 0, 0, 20}
	tests := []struct {
		link uint32
		b    []byte
		ip   bool
		skip string
	}{
		{LinkEthernet, append(append(make([]byte, 12), 0x08, 0x00), ip...), true, ""},
		{LinkEthernet, append(append(make([]byte, 12), 0x81, 0x00, 0, 5, 0x86, 0xdd), ip...), true, ""},
		{LinkEthernet, append(make([]byte, 12), 0x08, 0x06, 1, 2), false, "ethertype 0x0806"},
		{LinkEthernet, make([]byte, 10), false, "truncated Ethernet"},
		{LinkSLL, append(append(make([]byte, 14), 0x08, 0x00), ip...), true, ""},
		{LinkSLL2, append(append([]byte{0x08, 0x00}, make([]byte, 18)...), ip...), true, ""},
		{LinkRaw, ip, true, ""},
		{LinkNull, append([]byte{2, 0, 0, 0}, ip...), true, ""},
	}
	for i, tt := range tests {
		f := linkFrame(1, tt.link, tt.b, false)
		if (f.IP != nil) != tt.ip || !strings.Contains(f.Skip, tt.skip) || (tt.ip && !bytes.Equal(f.IP, ip)) {
			t.Errorf("%d (link %d): %+v", i, tt.link, f)
		}
	}
}

func FuzzParse(f *testing.F) {
	pcap, _ := os.ReadFile("testdata/ftp-any.pcap")
	f.Add(pcap[:min(len(pcap), 600)])
	f.Add([]byte{0x0a, 0x0d, 0x0d, 0x0a, 28, 0, 0, 0, 0x4d, 0x3c, 0x2b, 0x1a})
	f.Fuzz(func(t *testing.T, b []byte) {
		frames, _ := Parse(b)
		for i, fr := range frames {
			if fr.Number != i+1 {
				t.Fatalf("frame %d numbered %d", i+1, fr.Number)
			}
		}
	})
}
