package slp

import (
	"path/filepath"
	"testing"

	"github.com/gonfct/gonfct/pkg/cthelper"
	"github.com/gonfct/gonfct/pkg/cthelper/internal/pcaptest"
	"golang.org/x/sys/unix"
)

// The captures of testdata/capture.sh: slppeer.py's user agent asks its
// service agent for service:printer (SrvRqst, SrvRply), then for the
// attributes of the URL it got (AttrRqst, AttrRply), by multicast (IPv4
// and IPv6) or by unicast.
func TestCapturedRequests(t *testing.T) {
	for _, c := range []struct {
		name      string
		multicast bool
	}{{"multicast4", true}, {"multicast6", true}, {"unicast4", false}} {
		frames := pcaptest.Read(t, filepath.Join("testdata", c.name+".pcap"))
		steps := pcaptest.Replay(t, Parser{}, PrivLen, frames)
		if len(steps) != 4 {
			t.Fatalf("%s: %d packets, want SrvRqst, SrvRply, AttrRqst, AttrRply", c.name, len(steps))
		}
		for i, st := range steps {
			if fn := []byte{1, 2, 6, 7}[i]; st.Packet.Payload[0] != 2 || st.Packet.Payload[1] != fn {
				t.Fatalf("%s: packet %d is not an SLPv2 message of function %d: %x", c.name, i, fn, st.Packet.Payload[:2])
			}
			if st.Err != nil {
				t.Errorf("%s: packet %d: %v", c.name, i, st.Err)
			}
		}
		ua := steps[0].Packet
		for _, i := range []int{0, 2} { // the requests
			rq := steps[i]
			if !c.multicast {
				// The answer is a reply of the request's own conntrack.
				if rq.Result.NExpects != 0 {
					t.Errorf("%s: unicast request %d asked for %+v", c.name, i, rq.Result.Expects[0])
				}
				continue
			}
			want := cthelper.Expect{Proto: unix.IPPROTO_UDP, SrcPort: 427, Dst: ua.Src, DstPort: ua.SrcPort, Flags: cthelper.ExpectPermanent}
			if rq.Result.NExpects != 1 || rq.Result.Expects[0] != want {
				t.Errorf("%s: request %d: %+v, want %+v", c.name, i, rq.Result.Expects[:rq.Result.NExpects], want)
			}
			// The service agent's answer is what that expectation lets in.
			an := steps[i+1].Packet
			if an.Src == ua.Dst || an.SrcPort != want.SrcPort || an.Dst != want.Dst || an.DstPort != want.DstPort || steps[i+1].Result.NExpects != 0 {
				t.Errorf("%s: answer %d from %s:%d to %s:%d, outside %+v", c.name, i+1, an.Src, an.SrcPort, an.Dst, an.DstPort, want)
			}
		}
	}
}
