package sane

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/gonfct/gonfct/pkg/cthelper/internal/pcaptest"
)

// Every capture in testdata through the parser alone (pcaptest.Bench):
// one op is the whole capture, ns/packet per packet with a payload.
func BenchmarkCaptures(b *testing.B) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.pcap"))
	if err != nil || len(files) == 0 {
		b.Fatalf("no captures in testdata: %v", err)
	}
	for _, f := range files {
		b.Run(strings.TrimSuffix(filepath.Base(f), ".pcap"), func(b *testing.B) {
			p, err := New(nil)
			if err != nil {
				b.Fatal(err)
			}
			pcaptest.Bench(b, p, PrivLen, pcaptest.Read(b, f))
		})
	}
}
