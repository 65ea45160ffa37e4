package ctnl

import (
	"bytes"
	"testing"
)

func TestEncoderBytes(t *testing.T) {
	e := NewEncoder(nil)
	e.String(1, "ftp")
	n := e.Nest(2)
	e.Uint16(1, 2)
	e.Uint8(2, 6)
	e.End(n)
	e.Uint32(3, 5)
	// Little-endian headers (this is amd64), big-endian payloads, NUL after
	// the name, padding to 4 bytes.
	want := []byte{
		0x08, 0x00, 0x01, 0x00, 'f', 't', 'p', 0x00,
		0x14, 0x00, 0x02, 0x80,
		0x06, 0x00, 0x01, 0x00, 0x00, 0x02, 0x00, 0x00,
		0x05, 0x00, 0x02, 0x00, 0x06, 0x00, 0x00, 0x00,
		0x08, 0x00, 0x03, 0x00, 0x00, 0x00, 0x00, 0x05,
	}
	if !bytes.Equal(e.Bytes(), want) {
		t.Fatalf("encoded\n% x\nwant\n% x", e.Bytes(), want)
	}
}

func TestScannerRoundTrip(t *testing.T) {
	e := NewEncoder(nil)
	e.String(1, "rpc")
	n := e.Nest(2)
	e.Uint64(7, 1<<40)
	e.End(n)
	s := NewScanner(e.Bytes())
	var got []string
	for s.Next() {
		switch s.Type() {
		case 1:
			got = append(got, s.String())
		case 2:
			in := s.Nested()
			for in.Next() {
				if in.Type() != 7 || in.Uint64() != 1<<40 {
					t.Fatalf("nested attribute %d = %d", in.Type(), in.Uint64())
				}
				got = append(got, "nested")
			}
		}
	}
	if s.Err() != nil || len(got) != 2 || got[0] != "rpc" {
		t.Fatalf("scan = %v, %v", got, s.Err())
	}
}

func TestScannerMalformed(t *testing.T) {
	for _, b := range [][]byte{
		{0x03, 0x00},                         // short header
		{0x02, 0x00, 0x01, 0x00},             // length below header size
		{0x09, 0x00, 0x01, 0x00, 1, 2, 3, 4}, // length beyond buffer
	} {
		s := NewScanner(b)
		for s.Next() {
		}
		if s.Err() == nil {
			t.Errorf("% x: no error", b)
		}
	}
	s := NewScanner([]byte{0x05, 0x00, 0x01, 0x00, 7, 0, 0, 0})
	s.Next()
	if s.Uint32(); s.Err() == nil {
		t.Error("reading 4 bytes from a 1-byte attribute gave no error")
	}
}

func FuzzScanner(f *testing.F) {
	e := NewEncoder(nil)
	e.String(1, "ftp")
	n := e.Nest(2)
	e.Uint16(1, 2)
	e.End(n)
	f.Add(e.Bytes())
	f.Fuzz(func(t *testing.T, b []byte) {
		s := NewScanner(b)
		for s.Next() {
			in := s.Nested()
			for in.Next() {
				_ = in.Uint32()
			}
		}
	})
}
