package engine

import (
	"encoding/hex"
	"testing"

	"github.com/gonfct/gonfct/pkg/cthelper"
)

// The engine's per-packet decode of the queued IP packet.
func BenchmarkDecodeIP(b *testing.B) {
	for _, bc := range []struct{ name, hex string }{{"ipv4-tcp-227", v4Reply227}, {"ipv6-udp-dstopts", v6TFTP}} {
		b.Run(bc.name, func(b *testing.B) {
			pkt, err := hex.DecodeString(bc.hex)
			if err != nil {
				b.Fatal(err)
			}
			var p cthelper.Packet
			b.SetBytes(int64(len(pkt)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := decodeIP(pkt, &p); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
