package expect

import (
	"testing"

	"github.com/gonfct/gonfct/pkg/ctnl"
)

func BenchmarkEncode(b *testing.B) {
	in := ftpExpectation()
	enc := ctnl.NewEncoder(make([]byte, 0, 1024))
	b.ReportAllocs()
	for b.Loop() {
		enc.Reset()
		in.Encode(enc)
	}
}

// Decode alone, with a reused Decoder and Expectation (the list path).
func BenchmarkDecode(b *testing.B) {
	in := ftpExpectation()
	enc := ctnl.NewEncoder(nil)
	in.Encode(enc)
	var (
		d Decoder
		e Expectation
	)
	b.ReportAllocs()
	for b.Loop() {
		if err := d.Decode(enc.Bytes(), &e); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseMask(b *testing.B) {
	t := ftpExpectation().Tuple
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseMask("255.255.255.255 255.255.255.255 0 65535", t); err != nil {
			b.Fatal(err)
		}
	}
}
