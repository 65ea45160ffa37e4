package tns

import (
	"testing"

	"github.com/gonfct/gonfct/pkg/cthelper"
)

// A REDIRECT naming the port to expect (fresh private data each time).
func BenchmarkParse(b *testing.B) {
	p := strict(b)
	priv := make([]byte, PrivLen)
	pk := flow(redirect(redirectText), priv)
	var r cthelper.Result
	b.ReportAllocs()
	for b.Loop() {
		clear(priv)
		r.Reset()
		_ = p.Parse(pk, &r)
	}
}
