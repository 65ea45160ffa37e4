package ftp

import (
	"net/netip"
	"testing"

	"github.com/gonfct/gonfct/pkg/cthelper"
)

// FuzzParse: any payload, in either direction, at a known or unknown line
// start, with or without NAT, never panics and gives a consistent result.
func FuzzParse(f *testing.F) {
	for _, s := range readPcap(f, "testdata/ftp-sessions.pcap") {
		if len(s.payload) > 0 {
			f.Add(s.payload, s.src.Port() == 21, true, false, true)
		}
	}
	for _, s := range []string{
		"PORT 10,0,0,2,4,1\r\n", "EPRT |1|10.0.0.2|6275|\r\n", "EPRT |2|2001:db8::2|5282|\r\n",
		"227 (10,0,0,1,39,16)\r\n", "229 (|||6446|)\r\n", "PORT 10,0", "x\r\nPORT 10,0,0,2,4,1\r\n",
	} {
		f.Add([]byte(s), s[0] == '2', true, true, false)
	}
	parser, _ := New(cthelper.Options{"loose": "yes", "low-ports": "yes"})
	strict, _ := New(nil)
	f.Fuzz(func(t *testing.T, payload []byte, reply, known, nat, loose bool) {
		fl := newFlow(client4, server4)
		if len(payload) > 0 && payload[0]&1 == 1 {
			fl = newFlow(client6, server6)
		}
		if nat {
			fl.reply.Dst = netip.MustParseAddr("203.0.113.5")
			if fl.orig.Src.Is6() {
				fl.reply.Dst = netip.MustParseAddr("2001:db8:ffff::5")
			}
		}
		dir := cthelper.Original
		if reply {
			dir = cthelper.Reply
		}
		seq := uint32(lineStart)
		if !known {
			seq = 77
		}
		p := fl.packet(dir, seq, "")
		p.Payload = payload
		r := &cthelper.Result{}
		r.Reset()
		ps := strict
		if loose {
			ps = parser
		}
		err := ps.Parse(p, r)
		if r.NExpects > cthelper.MaxExpects || r.NRewrites > cthelper.MaxRewrites {
			t.Fatalf("%d expectations, %d rewrites", r.NExpects, r.NRewrites)
		}
		if r.Verdict == cthelper.Drop && (r.NExpects != 0 || r.NRewrites != 0 || r.PrivChanged || err != nil) {
			t.Fatal("a dropped packet carries results")
		}
		end := 0
		for i := 0; i < r.NRewrites; i++ {
			w := r.Rewrites[i]
			if w.Off < end || w.Len <= 0 || w.Off+w.Len > len(payload) || len(w.Data) == 0 || len(w.Data) > slotSize {
				t.Fatalf("rewrite %d %+v out of place in %d bytes", i, w, len(payload))
			}
			end = w.Off + w.Len
		}
		for i := 0; i < r.NExpects; i++ {
			e := r.Expects[i]
			if !e.Src.IsValid() || !e.Dst.IsValid() || e.DstPort == 0 || e.Proto != 6 || e.Dst.Is4() != fl.orig.Src.Is4() {
				t.Fatalf("expectation %+v", e)
			}
			if !loose && !e.NAT && e.DstPort < 1024 {
				t.Fatalf("low port %d accepted", e.DstPort)
			}
			if e.NAT != nat || (e.NAT && i >= r.NRewrites) {
				t.Fatalf("NAT expectation without rewrite: %+v", e)
			}
		}
	})
}
