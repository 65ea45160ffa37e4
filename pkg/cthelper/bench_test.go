package cthelper

import (
	"testing"

	"github.com/gonfct/gonfct/pkg/ctnl"
)

func BenchmarkEncodeHelper(b *testing.B) {
	e := ctnl.NewEncoder(make([]byte, 0, 512))
	b.ReportAllocs()
	for b.Loop() {
		e.Reset()
		encodeHelper(e, &ftpDefault, allFields)
	}
}

func BenchmarkDecodeHelper(b *testing.B) {
	e := ctnl.NewEncoder(nil)
	encodeHelper(e, &ftpDefault, allFields)
	msg := e.Bytes()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := decodeHelper(msg); err != nil {
			b.Fatal(err)
		}
	}
}
