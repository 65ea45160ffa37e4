package nsrexec

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/gonfct/gonfct/pkg/cthelper"
	"github.com/gonfct/gonfct/pkg/cthelper/internal/pcaptest"
	"golang.org/x/sys/unix"
)

// NetWorker is not in Debian: these tests replay the real rsh (rsh-redone)
// and rpcbind captures of the rsh and rpc packages with their server port
// moved to NetWorker's (514 → 7937, 111 → 7938), which is all nsrexecd
// changes on the wire.

func moved(t *testing.T, file string, from, to uint16) []pcaptest.Frame {
	frames := pcaptest.Read(t, filepath.Join("..", file))
	for i := range frames {
		if frames[i].SrcPort == from {
			frames[i].SrcPort = to
		}
		if frames[i].DstPort == from {
			frames[i].DstPort = to
		}
	}
	return frames
}

func TestBothSides(t *testing.T) {
	p, err := New(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		file     string
		from, to uint16
		want     int
		proto    uint8
	}{
		{"rsh/testdata/rsh4.pcap", 514, DefaultPort, 1, unix.IPPROTO_TCP},
		{"rsh/testdata/rsh6.pcap", 514, DefaultPort, 1, unix.IPPROTO_TCP},
		{"rpc/testdata/getport-udp.pcap", 111, DefaultRPCPort, 2, 0},
		{"rpc/testdata/rpcinfo-getaddr4-tcp6.pcap", 111, DefaultRPCPort, 1, unix.IPPROTO_TCP},
		// Unmoved: neither NetWorker port, nothing expected.
		{"rsh/testdata/rsh4.pcap", 514, 514, 0, 0},
		{"rpc/testdata/getport-tcp.pcap", 111, 111, 0, 0},
		// rsh on the portmapper port is not RPC, RPC on the nsrexec port is not rsh.
		{"rsh/testdata/rsh4.pcap", 514, DefaultRPCPort, 0, 0},
		{"rpc/testdata/getport-tcp.pcap", 111, DefaultPort, 0, 0},
	} {
		steps := pcaptest.Replay(t, p, PrivLen, moved(t, c.file, c.from, c.to))
		got := pcaptest.Expects(steps)
		if len(got) != c.want || c.proto != 0 && got[0].Proto != c.proto {
			t.Errorf("%s on %d: %+v, want %d", c.file, c.to, got, c.want)
		}
	}
}

func TestOptions(t *testing.T) {
	p, err := New(cthelper.Options{"port": "9000", "rpc-ports": "9001,9002", "range": "1000-1023"})
	if err != nil {
		t.Fatal(err)
	}
	got := pcaptest.Expects(pcaptest.Replay(t, p, PrivLen, moved(t, "rsh/testdata/rsh4.pcap", 514, 9000)))
	if len(got) != 1 {
		t.Errorf("rsh on port 9000: %v", got)
	}
	got = pcaptest.Expects(pcaptest.Replay(t, p, PrivLen, moved(t, "rpc/testdata/getport-tcp.pcap", 111, 9002)))
	if len(got) != 1 {
		t.Errorf("rpc on port 9002: %v", got)
	}
	for want, o := range map[string]cthelper.Options{
		"known options are ports, range, port, rpc-ports": {"nsrexec": "7937"},
		"not a port number":                           {"port": "x"},
		"both the nsrexec port and a portmapper port": {"port": "7938"},
		"rpc-ports is empty":                          {"rpc-ports": ","},
	} {
		if _, err := New(o); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%v: %v", o, err)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("1022\x00root\x00gonfct\x00echo hello\x00"), true)
	f.Add([]byte{0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 1, 0x86, 0xa0}, false)
	p, _ := New(nil)
	f.Fuzz(func(t *testing.T, b []byte, rshSide bool) {
		pk := cthelper.Packet{Proto: unix.IPPROTO_TCP, Info: cthelper.Established, Payload: b, Priv: make([]byte, PrivLen)}
		pk.Orig.DstPort = DefaultRPCPort
		if rshSide {
			pk.Orig.DstPort = DefaultPort
		}
		var r cthelper.Result
		r.Reset()
		_ = p.Parse(&pk, &r)
		if !rshSide && r.NExpects != 0 {
			t.Fatal("an RPC call made an expectation")
		}
	})
}
