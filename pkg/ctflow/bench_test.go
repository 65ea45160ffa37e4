package ctflow

import (
	"testing"

	"github.com/gonfct/gonfct/pkg/ctnl"
)

// Decode of one captured dump message into a reused Flow (the list path).
func BenchmarkDecode(b *testing.B) {
	for _, fx := range fixtures {
		b.Run(fx.name, func(b *testing.B) {
			msg := mustHex(b, fx.hex)
			var f Flow
			b.SetBytes(int64(len(msg)))
			b.ReportAllocs()
			for b.Loop() {
				if err := Decode(fx.family, msg, &f); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// conntrack -L's line for a decoded flow, into a reused buffer.
func BenchmarkAppendText(b *testing.B) {
	var f Flow
	if err := Decode(fixtures[0].family, mustHex(b, fixtures[0].hex), &f); err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 0, 512)
	b.ReportAllocs()
	for b.Loop() {
		buf = f.AppendText(buf[:0])
	}
}

func BenchmarkEncodeCreate(b *testing.B) {
	var f Flow
	if err := Decode(fixtures[0].family, mustHex(b, fixtures[0].hex), &f); err != nil {
		b.Fatal(err)
	}
	e := ctnl.NewEncoder(make([]byte, 0, 512))
	b.ReportAllocs()
	for b.Loop() {
		e.Reset()
		EncodeCreate(e, &f)
	}
}

// A save file parsed per entry (restore's first pass): reported per file
// of two conntracks.
func BenchmarkParseSaveFile(b *testing.B) {
	data := []byte(saveOK)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, _, err := ParseSaveFile(data); err != nil {
			b.Fatal(err)
		}
	}
}
