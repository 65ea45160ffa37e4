package cttimeout

import (
	"bufio"
	"encoding/binary"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// traceCall is one syscall of a captured nfct run: the bytes it sent
// (sendto) or received (recvmsg), from strace's hex dump.
type traceCall struct {
	Call string
	Data []byte
}

// readTrace reads testdata/NAME.strace (made by testdata/capture.sh).
func readTrace(t *testing.T, name string) []traceCall {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name+".strace"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var calls []traceCall
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, " | "):
			// " | 00000  1c 00 00 00 ...  ascii |": the hex columns are
			// line[10:58].
			if len(calls) == 0 || len(line) < 58 {
				t.Fatalf("%s: stray hex dump line %q", name, line)
			}
			b, err := hex.DecodeString(strings.Join(strings.Fields(line[10:58]), ""))
			if err != nil {
				t.Fatalf("%s: %q: %v", name, line, err)
			}
			calls[len(calls)-1].Data = append(calls[len(calls)-1].Data, b...)
		case strings.Contains(line, " sendto("):
			calls = append(calls, traceCall{Call: "sendto"})
		case strings.Contains(line, " recvmsg("):
			calls = append(calls, traceCall{Call: "recvmsg"})
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return calls
}

// nlMessage is one netlink message out of a captured datagram.
type nlMessage struct {
	Type, Flags uint16
	Payload     []byte // after the netlink header: nfgenmsg + attributes
}

func splitMessages(t *testing.T, b []byte) []nlMessage {
	t.Helper()
	var out []nlMessage
	for len(b) >= 16 {
		l := int(binary.NativeEndian.Uint32(b))
		if l < 16 || l > len(b) {
			t.Fatalf("malformed captured message (length %d of %d)", l, len(b))
		}
		out = append(out, nlMessage{
			Type:    binary.NativeEndian.Uint16(b[4:]),
			Flags:   binary.NativeEndian.Uint16(b[6:]),
			Payload: b[16:l],
		})
		b = b[(l+3)&^3:]
	}
	return out
}

// sent is the one request nfct sent in a capture.
func sent(t *testing.T, name string) nlMessage {
	t.Helper()
	for _, c := range readTrace(t, name) {
		if c.Call == "sendto" {
			m := splitMessages(t, c.Data)
			if len(m) != 1 {
				t.Fatalf("%s: %d messages sent", name, len(m))
			}
			return m[0]
		}
	}
	t.Fatalf("%s: nothing sent", name)
	return nlMessage{}
}

// received are the cttimeout messages (not errors or DONE) nfct received.
func received(t *testing.T, name string) []nlMessage {
	t.Helper()
	var out []nlMessage
	for _, c := range readTrace(t, name) {
		if c.Call != "recvmsg" {
			continue
		}
		for _, m := range splitMessages(t, c.Data) {
			if m.Type>>8 == subsysTimeout {
				out = append(out, m)
			}
		}
	}
	return out
}

func readOut(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name+".out"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
