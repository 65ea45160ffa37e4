package slp

import (
	"testing"

	"github.com/gonfct/gonfct/pkg/cthelper"
)

// An SLPv2 SrvRqst to the multicast group (one expectation).
func BenchmarkParse(b *testing.B) {
	p := packet(group, srvRqst2())
	var r cthelper.Result
	b.ReportAllocs()
	for b.Loop() {
		r.Reset()
		_ = Parser{}.Parse(p, &r)
	}
}
