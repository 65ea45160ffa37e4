package rpc

import "encoding/binary"

// reader walks one RPC message in XDR. Over TCP the message is a record
// made of fragments, each behind a 4-byte mark (last-fragment bit and
// length, RFC 5531 §11); the reader steps over the marks so that a value
// split between two fragments reads whole. Errors are sticky: after one,
// every read returns zero and ok reports false.
type reader struct {
	b    []byte
	size int // the whole message's length, for offsets
	tcp  bool
	frag int  // bytes left in the current fragment (TCP)
	mark int  // offset of the current fragment's mark (TCP)
	last bool // the current fragment is the record's last
	bad  bool
}

func newReader(b []byte, tcp bool) reader {
	r := reader{b: b, size: len(b), tcp: tcp}
	if tcp {
		r.nextFragment()
	}
	return r
}

func (r *reader) nextFragment() {
	if r.last || len(r.b) < 4 {
		r.bad = true
		return
	}
	r.mark = r.offset()
	mark := binary.BigEndian.Uint32(r.b)
	r.b = r.b[4:]
	r.last = mark&0x80000000 != 0
	r.frag = int(mark & 0x7fffffff)
}

// take returns the next n bytes (n ≤ 4) of the message, contiguous in buf.
func (r *reader) take(n int, buf *[4]byte) []byte {
	if r.bad {
		return nil
	}
	if !r.tcp || r.frag >= n {
		if len(r.b) < n {
			r.bad = true
			return nil
		}
		v := r.b[:n]
		r.b = r.b[n:]
		r.frag -= n
		return v
	}
	for i := 0; i < n; i++ {
		for r.frag == 0 && !r.bad {
			r.nextFragment()
		}
		if r.bad || len(r.b) == 0 {
			r.bad = true
			return nil
		}
		buf[i] = r.b[0]
		r.b = r.b[1:]
		r.frag--
	}
	return buf[:n]
}

func (r *reader) u32() uint32 {
	var buf [4]byte
	v := r.take(4, &buf)
	if v == nil {
		return 0
	}
	return binary.BigEndian.Uint32(v)
}

// skip steps over n bytes.
func (r *reader) skip(n int) {
	var buf [4]byte
	for ; n >= 4 && !r.bad; n -= 4 {
		r.take(4, &buf)
	}
	if n > 0 {
		r.take(n, &buf)
	}
}

// opaque steps over a variable-length opaque (or string) of at most max
// bytes, with its padding.
func (r *reader) opaque(max int) {
	n := r.u32()
	if int64(n) > int64(max) {
		r.bad = true
		return
	}
	r.skip(int(n+3) &^ 3)
}

// str reads a string of at most len(dst) bytes into dst, returning its
// length.
func (r *reader) str(dst []byte) int {
	n := r.u32()
	if int64(n) > int64(len(dst)) {
		r.bad = true
		return 0
	}
	var buf [4]byte
	for i := 0; i < int(n) && !r.bad; i++ {
		if v := r.take(1, &buf); v != nil {
			dst[i] = v[0]
		}
	}
	r.skip((4 - int(n)%4) % 4)
	if r.bad {
		return 0
	}
	return int(n)
}

func (r *reader) ok() bool { return !r.bad }

// offset is where the next read starts, from the message's first byte.
func (r *reader) offset() int { return r.size - len(r.b) }
