package cthelper

import "testing"

// AddAnnounced keeps rewrites in payload order and every expectation
// linked to the rewrite that announces it, wherever later insertions
// move that rewrite.
func TestAddAnnouncedLinks(t *testing.T) {
	var r Result
	r.Reset()
	r.AddExpect(Expect{DstPort: 1}) // not announced
	for _, a := range []struct {
		port uint16
		off  int
	}{{30, 30}, {10, 10}, {20, 20}} {
		if !r.AddAnnounced(Expect{DstPort: a.port, NAT: true}, Rewrite{Off: a.off, Len: 2}) {
			t.Fatalf("port %d not added", a.port)
		}
	}
	if r.NExpects != 4 || r.NRewrites != 3 {
		t.Fatalf("%d expectations, %d rewrites", r.NExpects, r.NRewrites)
	}
	for i := range r.NRewrites - 1 {
		if r.Rewrites[i].Off >= r.Rewrites[i+1].Off {
			t.Fatalf("rewrites out of payload order: %+v", r.Rewrites[:r.NRewrites])
		}
	}
	if _, ok := r.Expects[0].Announcement(); ok {
		t.Error("the plain expectation is linked")
	}
	for _, e := range r.Expects[1:r.NExpects] {
		k, ok := e.Announcement()
		if !ok || r.Rewrites[k].Off != int(e.DstPort) {
			t.Errorf("expectation of port %d linked to rewrite %d (%+v)", e.DstPort, k, r.Rewrites[:r.NRewrites])
		}
	}
	// Overlapping, or full: neither is added.
	if r.AddAnnounced(Expect{DstPort: 99}, Rewrite{Off: 11, Len: 2}) || r.NExpects != 4 || r.NRewrites != 3 {
		t.Error("an overlapping rewrite was added")
	}
	if r.AddAnnounced(Expect{DstPort: 40}, Rewrite{Off: 40, Len: 2}) || r.NRewrites != 3 {
		t.Error("added to a full Expects")
	}
}
