package ctnl

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

type walked struct {
	h    netlink.Header
	data []byte
}

func walkAll(b []byte) ([]walked, error) {
	var out []walked
	w := Walk(b)
	for w.Next() {
		out = append(out, walked{w.Header(), w.Data()})
	}
	return out, w.Err()
}

func TestWalk(t *testing.T) {
	var b []byte
	b = AppendMessage(b, netlink.Header{Type: 0x0100, Flags: netlink.Multi, Sequence: 7, PID: 9}, []byte{2, 0, 0, 0, 1})
	b = AppendMessage(b, netlink.Header{Type: netlink.Done, Sequence: 7}, []byte{0, 0, 0, 0})
	msgs, err := walkAll(b)
	if err != nil || len(msgs) != 2 {
		t.Fatalf("walked %+v, %v", msgs, err)
	}
	if h := msgs[0].h; h.Length != 21 || h.Type != 0x0100 || h.Flags != netlink.Multi || h.Sequence != 7 || h.PID != 9 ||
		!bytes.Equal(msgs[0].data, []byte{2, 0, 0, 0, 1}) {
		t.Errorf("first message %+v", msgs[0])
	}
	if msgs[1].h.Type != netlink.Done {
		t.Errorf("second message %+v", msgs[1])
	}
	// The last message's padding may be missing from the datagram.
	if msgs, err := walkAll(b[:16+5]); err != nil || len(msgs) != 1 {
		t.Errorf("unpadded last message: %+v, %v", msgs, err)
	}
	for _, bad := range [][]byte{
		b[:10],                // less than a header
		b[:16+4],              // length beyond the datagram
		append(b, 1, 2, 3, 4), // a tail shorter than a header
		{8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, // length below a header
	} {
		if _, err := walkAll(bad); err == nil {
			t.Errorf("walk of %x found no error", bad)
		}
	}
}

func TestParseError(t *testing.T) {
	req := AppendMessage(nil, netlink.Header{Type: 0x0200, Sequence: 11}, []byte{2, 0, 0, 0, 5, 6})
	data := binary.NativeEndian.AppendUint32(nil, uint32(0xffffffea)) // -EINVAL
	data = append(data, req...)
	e := NewEncoder(nil)
	e.String(extAckMsg, "bad tuple")
	data = append(data, e.Bytes()...)
	a, err := parseError(netlink.Header{Type: netlink.Error, Flags: flagAckTLVs}, data)
	if err != nil || a.errno != unix.EINVAL || a.typ != 0x0200 || a.seq != 11 || a.text != "bad tuple" || !a.hasOrig {
		t.Fatalf("parseError = %+v, %v", a, err)
	}
	// Capped: only the request's header is echoed.
	capped := append(binary.NativeEndian.AppendUint32(nil, 0), req[:16]...)
	capped = append(capped, e.Bytes()...)
	if a, err := parseError(netlink.Header{Flags: flagAckTLVs | flagCapped}, capped); err != nil || a.errno != 0 || a.text != "bad tuple" {
		t.Fatalf("capped parseError = %+v, %v", a, err)
	}
	if _, err := parseError(netlink.Header{}, []byte{1, 2}); err == nil {
		t.Fatal("parseError accepted a message without an errno")
	}
}

// FuzzWalk: the walk never panics nor hands out bytes outside its
// datagram; what it reads re-encodes (AppendMessage) to messages it reads
// back the same; the answer decoding on top of it never panics either.
func FuzzWalk(f *testing.F) {
	ok := AppendMessage(nil, netlink.Header{Type: 0x0100, Flags: netlink.Multi | flagDumpIntr, Sequence: 1}, []byte{2, 0, 0, 0})
	ack := binary.NativeEndian.AppendUint32(nil, uint32(0xfffffff0))
	ack = append(ack, ok...)
	ack = append(ack, 8, 0, 1, 0, 'x', 'y', 0, 0)
	f.Add(ok)
	f.Add(AppendMessage(ok, netlink.Header{Type: netlink.Error, Flags: flagAckTLVs, Sequence: 1}, ack))
	f.Add(AppendMessage(nil, netlink.Header{Type: netlink.Done, Flags: flagAckTLVs, Sequence: 1}, []byte{0, 0, 0, 0, 5, 0, 1, 0, 'z'}))
	f.Add([]byte{17, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		msgs, err := walkAll(b)
		var re []byte
		for _, m := range msgs {
			if int(m.h.Length) != unix.NLMSG_HDRLEN+len(m.data) || cap(m.data) != len(m.data) {
				t.Fatalf("message %+v: length and data disagree", m)
			}
			re = AppendMessage(re, m.h, m.data)
			st := queryState{req: &Request{}, seq: 1, fn: func(Message) error { return nil }}
			_ = st.handle(m.h, m.data)
			_, _ = parseError(m.h, m.data)
		}
		back, rerr := walkAll(re)
		if rerr != nil || len(back) != len(msgs) {
			t.Fatalf("re-encoded walk: %d messages, %v; first walk %d (%v)", len(back), rerr, len(msgs), err)
		}
		for i := range back {
			if back[i].h != msgs[i].h || !bytes.Equal(back[i].data, msgs[i].data) {
				t.Fatalf("message %d: %+v read back as %+v", i, msgs[i], back[i])
			}
		}
		if err == nil && len(b) > 0 && len(re) != align4(len(b)) && len(re) != len(b) {
			t.Fatalf("a clean walk of %d bytes re-encoded to %d", len(b), len(re))
		}
	})
}
