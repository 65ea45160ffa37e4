package amanda

import (
	"testing"

	"github.com/gonfct/gonfct/pkg/cthelper"
	"github.com/gonfct/gonfct/pkg/cthelper/internal/pcaptest"
)

// A REP with three CONNECT ports (the common reply).
func BenchmarkParse(b *testing.B) {
	p := packet("Amanda 2.6 REP HANDLE 001 SEQ 1\nCONNECT DATA 50011 MESG 50012 INDEX 50013\n")
	var r cthelper.Result
	b.ReportAllocs()
	for b.Loop() {
		r.Reset()
		_ = Parser{}.Parse(p, &r)
	}
}

// Every capture in testdata through the parser alone: one op is the whole
// capture, ns/packet per packet with a payload.
func BenchmarkCaptures(b *testing.B) { pcaptest.BenchCaptures(b, New, PrivLen) }
