package ctnl

import (
	"net/netip"
	"testing"
)

var (
	benchOrig  = Tuple{Src: netip.MustParseAddr("10.0.0.1"), Dst: netip.MustParseAddr("10.0.0.2"), Proto: 6, SrcPort: 40000, DstPort: 21}
	benchReply = Tuple{Src: netip.MustParseAddr("10.0.0.2"), Dst: netip.MustParseAddr("10.0.0.1"), Proto: 6, SrcPort: 21, DstPort: 40000}
)

// benchMessage is a conntrack-like attribute set: two tuples, a timeout,
// a mark and a nested helper name.
func benchMessage(e *Encoder) {
	benchOrig.Encode(e, 1)
	benchReply.Encode(e, 2)
	e.Uint32(7, 300)
	e.Uint32(8, 0x10)
	n := e.Nest(5)
	e.String(1, "ftp")
	e.End(n)
}

// The encoder reuses its buffer: no allocation per message.
func BenchmarkEncodeConntrack(b *testing.B) {
	e := NewEncoder(make([]byte, 0, 512))
	b.ReportAllocs()
	for b.Loop() {
		e.Reset()
		benchMessage(e)
	}
	b.SetBytes(int64(e.Len()))
}

// Scanning walks every attribute, nested ones too, reading each value.
func BenchmarkScanConntrack(b *testing.B) {
	e := NewEncoder(nil)
	benchMessage(e)
	msg := e.Bytes()
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	var sum uint64
	for b.Loop() {
		s := NewScanner(msg)
		for s.Next() {
			switch s.Type() {
			case 1, 2, 5:
				in := s.Nested()
				for in.Next() {
					sum += uint64(len(in.Data()))
				}
			default:
				sum += uint64(s.Uint32())
			}
		}
		if s.Err() != nil {
			b.Fatal(s.Err())
		}
	}
	_ = sum
}

func BenchmarkDecodeTuple(b *testing.B) {
	for _, bc := range []struct {
		name string
		t    Tuple
	}{
		{"tcp4", benchOrig},
		{"udp6", Tuple{Src: netip.MustParseAddr("fd00::1"), Dst: netip.MustParseAddr("fd00::2"), Proto: 17, SrcPort: 5, DstPort: 69, Zone: 3, HasZone: true}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			e := NewEncoder(nil)
			bc.t.Encode(e, 1)
			s := NewScanner(e.Bytes())
			s.Next()
			data := s.Data()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := DecodeTuple(data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkTupleAppendText(b *testing.B) {
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	for b.Loop() {
		buf = benchOrig.AppendText(buf[:0])
	}
}

// ParseTuple reads command-line words (not a hot path; measured to keep
// it honest).
func BenchmarkParseTuple(b *testing.B) {
	words := []string{"tcp", "10.0.0.1", "10.0.0.2", "40000", "21"}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseTuple(words); err != nil {
			b.Fatal(err)
		}
	}
}
