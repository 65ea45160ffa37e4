package ctnl

import "testing"

// benchTuple nests a conntrack-like tuple of type typ: addresses, then
// protocol and ports.
func benchTuple(e *Encoder, typ uint16, src, dst [4]byte, sport, dport uint16) {
	n := e.Nest(typ)
	ip := e.Nest(1)
	e.Put(1, src[:])
	e.Put(2, dst[:])
	e.End(ip)
	p := e.Nest(2)
	e.Uint8(1, 6)
	e.Uint16(2, sport)
	e.Uint16(3, dport)
	e.End(p)
	e.End(n)
}

// benchMessage is a conntrack-like attribute set: two tuples, a timeout,
// a mark and a nested helper name.
func benchMessage(e *Encoder) {
	benchTuple(e, 1, [4]byte{10, 0, 0, 1}, [4]byte{10, 0, 0, 2}, 40000, 21)
	benchTuple(e, 2, [4]byte{10, 0, 0, 2}, [4]byte{10, 0, 0, 1}, 21, 40000)
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
