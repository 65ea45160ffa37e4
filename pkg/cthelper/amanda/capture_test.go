package amanda

import (
	"path/filepath"
	"testing"

	"github.com/gonfct/gonfct/pkg/cthelper"
	"github.com/gonfct/gonfct/pkg/cthelper/internal/pcaptest"
	"golang.org/x/sys/unix"
)

// testdata/bsd.pcap and bsdudp.pcap are real amdump runs of Debian's
// Amanda 3.5.1 (testdata/capture.sh), server 10.80.0.1, client
// 10.80.0.2: the UDP exchange on port 10080 (noop, sendsize, sendbackup)
// and the SYNs of the TCP connections the server then opened. Replayed
// through the parser, the expectations must be exactly the connections
// the server opened: four with auth bsd (DATA, MESG, INDEX, STATE), one
// with auth bsdudp (DATA; the other streams ride on it).
func TestCaptures(t *testing.T) {
	for file, want := range map[string]int{"bsd.pcap": 4, "bsdudp.pcap": 1} {
		t.Run(file, func(t *testing.T) {
			frames := pcaptest.Read(t, filepath.Join("testdata", file))
			var udp []pcaptest.Frame
			var opened []pcaptest.Frame // the server's SYNs
			for _, f := range frames {
				switch {
				case f.Proto == unix.IPPROTO_UDP:
					udp = append(udp, f)
				case f.SYN && f.DstPort != 10080 && f.Src.String() == "10.80.0.1":
					opened = append(opened, f)
				}
			}
			steps := pcaptest.Replay(t, Parser{}, PrivLen, udp)
			if len(steps) < 10 {
				t.Fatalf("%d UDP packets with a payload: the capture is not a whole amdump", len(steps))
			}
			connects := 0
			for _, s := range steps {
				if s.Err != nil {
					t.Errorf("%q: %v", s.Packet.Payload, s.Err)
				}
				if s.Result.NExpects > 0 {
					connects++
				}
				// Every reply of amandad's, the ACKs too, keeps the master.
				if want := map[cthelper.Direction]uint32{cthelper.Original: 0, cthelper.Reply: MasterTimeout}[s.Packet.Dir]; s.Result.Timeout != want {
					t.Errorf("%v %q: timeout %d, want %d", s.Packet.Dir, s.Packet.Payload, s.Result.Timeout, want)
				}
			}
			got := pcaptest.Expects(steps)
			if connects != 1 || len(got) != want || len(opened) != want {
				t.Fatalf("%d replies with expectations, %d expectations, %d connections opened; want 1, %d, %d: %+v",
					connects, len(got), len(opened), want, want, got)
			}
			for i, syn := range opened {
				e := cthelper.Expect{Proto: unix.IPPROTO_TCP, Src: syn.Src, Dst: syn.Dst, AnySrcPort: true, DstPort: syn.DstPort}
				if got[i] != e {
					t.Errorf("expectation %d: %+v, want %+v (connection %v:%d > %v:%d)", i, got[i], e, syn.Src, syn.SrcPort, syn.Dst, syn.DstPort)
				}
			}
		})
	}
}
