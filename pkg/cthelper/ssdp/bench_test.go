package ssdp

import (
	"testing"

	"github.com/gonfct/gonfct/pkg/cthelper/internal/pcaptest"
)

// Every capture in testdata through the parser alone: one op is the whole
// capture, ns/packet per packet with a payload.
func BenchmarkCaptures(b *testing.B) { pcaptest.BenchCaptures(b, New, PrivLen) }
