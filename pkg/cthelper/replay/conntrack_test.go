package replay

import (
	"net/netip"
	"testing"

	"github.com/gonfct/gonfct/pkg/cthelper"
	"golang.org/x/sys/unix"
)

// The emulated conntrack reports what the kernel would: NEW (unconfirmed)
// for a flow's first packet, NEW again for another original-direction
// packet before any reply, then ESTABLISHED; a flow first seen through
// its server's answer existed before the capture: confirmed, past NEW.
func TestConntracksView(t *testing.T) {
	c, s := netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("10.0.0.1")
	out := &cthelper.Packet{Family: unix.AF_INET, Proto: unix.IPPROTO_UDP, Src: c, Dst: s, SrcPort: 40000, DstPort: 69}
	in := &cthelper.Packet{Family: unix.AF_INET, Proto: unix.IPPROTO_UDP, Src: s, Dst: c, SrcPort: 69, DstPort: 40000}
	type step struct {
		p         *cthelper.Packet
		info      cthelper.CTInfo
		confirmed bool
	}
	for _, tc := range []struct {
		name  string
		ports []uint16
		steps []step
	}{
		{"client first", nil, []step{{out, cthelper.New, false}, {out, cthelper.New, true}, {in, cthelper.EstablishedReply, true}, {out, cthelper.Established, true}}},
		{"server's answer first", []uint16{69}, []step{{in, cthelper.EstablishedReply, true}, {out, cthelper.Established, true}}},
	} {
		cts := &Conntracks{Ports: tc.ports, PrivLen: 2}
		for i, st := range tc.steps {
			ct, dir, isNew := cts.Find(st.p, 0)
			v := ct.View(dir)
			if v.Info != st.info || v.Confirmed != st.confirmed || isNew != (i == 0) || len(v.Priv) != 2 || ct.Orig.DstPort != 69 {
				t.Errorf("%s, packet %d: %+v (new %v), want ctinfo %d confirmed %v", tc.name, i, v, isNew, st.info, st.confirmed)
			}
			ct.Passed(dir)
		}
	}
}
