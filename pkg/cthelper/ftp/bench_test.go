package ftp

import (
	"net/netip"
	"testing"

	"github.com/gonfct/gonfct/pkg/cthelper"
)

// BenchmarkParse: one control segment at a known line start, as the
// engine hands it over, with the result reused. Target: < 200 ns, 0
// allocations.
func BenchmarkParse(b *testing.B) {
	for _, bc := range []struct {
		name    string
		dir     cthelper.Direction
		payload string
		nat     bool
	}{
		{"PORT", cthelper.Original, "PORT 10,0,0,2,195,80\r\n", false},
		{"227", cthelper.Reply, "227 Entering Passive Mode (10,0,0,1,195,80).\r\n", false},
		{"PORT-NAT", cthelper.Original, "PORT 10,0,0,2,195,80\r\n", true},
		{"227-NAT", cthelper.Reply, "227 Entering Passive Mode (10,0,0,1,195,80).\r\n", true},
		{"EPRT6", cthelper.Original, "EPRT |2|2001:db8::2|50000|\r\n", false},
		{"other", cthelper.Original, "RETR some/file.txt\r\n", false},
	} {
		b.Run(bc.name, func(b *testing.B) {
			f := newFlow(client4, server4)
			if bc.name == "EPRT6" {
				f = newFlow(client6, server6)
			}
			if bc.nat {
				f.reply.Dst = netip.MustParseAddr("203.0.113.5")
				f.orig.Dst = netip.MustParseAddr("203.0.113.6")
			}
			p := f.packet(bc.dir, lineStart, bc.payload)
			start := f.priv
			parser, _ := New(nil)
			r := &cthelper.Result{}
			b.ReportAllocs()
			b.SetBytes(int64(len(p.Payload)))
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				f.priv = start // each packet at the same known line start
				r.Reset()
				if err := parser.Parse(p, r); err != nil {
					b.Fatal(err)
				}
			}
			if bc.name != "other" && r.NExpects != 1 {
				b.Fatalf("%d expectations", r.NExpects)
			}
		})
	}
}

func TestParseDoesNotAllocate(t *testing.T) {
	f := newFlow(client4, server4)
	f.reply.Dst = netip.MustParseAddr("203.0.113.5")
	parser, _ := New(nil)
	r := &cthelper.Result{}
	for _, payload := range []string{"PORT 10,0,0,2,195,80\r\n", "EPRT |1|10.0.0.2|50000|\r\n"} {
		p := f.packet(cthelper.Original, lineStart, payload)
		start := f.priv
		if n := testing.AllocsPerRun(100, func() {
			f.priv = start
			r.Reset()
			parser.Parse(p, r)
		}); n != 0 {
			t.Errorf("%q: %v allocations per packet", payload, n)
		}
	}
	g := newFlow(client6, server6)
	g.orig.Dst = netip.MustParseAddr("2001:db8:ffff::5")
	for _, payload := range []string{"227 (10,0,0,1,195,80)\r\n", "229 (|||6446|)\r\n"} {
		fl := f
		if payload[2] == '9' {
			fl = g
		}
		p := fl.packet(cthelper.Reply, lineStart, payload)
		start := fl.priv
		if n := testing.AllocsPerRun(100, func() {
			fl.priv = start
			r.Reset()
			parser.Parse(p, r)
		}); n != 0 {
			t.Errorf("%q: %v allocations per packet", payload, n)
		}
	}
}
