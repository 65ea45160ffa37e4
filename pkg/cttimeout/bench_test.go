package cttimeout

import (
	"testing"

	"github.com/gonfct/gonfct/pkg/ctnl"
	"golang.org/x/sys/unix"
)

func BenchmarkMarshalPolicy(b *testing.B) {
	p := Policy{Name: "web", Family: unix.AF_INET, Proto: unix.IPPROTO_TCP,
		Timeouts: timeouts(1, 5, 2, 60, 3, 100, 4, 120, 5, 60, 6, 30, 7, 120, 8, 10, 9, 120, 10, 300, 11, 7)}
	e := ctnl.NewEncoder(make([]byte, 0, 512))
	b.ReportAllocs()
	for b.Loop() {
		e.Reset()
		marshalPolicy(e, p)
	}
}
