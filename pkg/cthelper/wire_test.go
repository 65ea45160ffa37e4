package cthelper

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"os"
	"strings"
	"testing"

	"github.com/gonfct/gonfct/pkg/ctnl"
	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

func readHex(t *testing.T, path string) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var b []byte
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		d, err := hex.DecodeString(strings.ReplaceAll(line, " ", ""))
		if err != nil {
			t.Fatal(err)
		}
		b = append(b, d...)
	}
	return b
}

var ftpDefault = Helper{Name: "ftp", Family: unix.AF_INET, Proto: unix.IPPROTO_TCP, PrivLen: 24,
	Policies: []Policy{{Name: "ftp", ExpectMax: 1, ExpectTimeout: 300}}}

// What nfct sends decodes to the helper it means, and what we send for the
// same helper carries the same attributes (the tuple byte for byte).
func TestWireAgainstNfct(t *testing.T) {
	nfct := readHex(t, "testdata/nfct-add-helper-ftp-inet-tcp.hex")
	got, err := decodeHelper(nfct)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(ftpDefault, got); d != "" {
		t.Fatalf("nfct's request decodes to (-want +got)\n%s", d)
	}
	e := ctnl.NewEncoder(nil)
	encodeTuple(e, unix.AF_INET, unix.IPPROTO_TCP)
	if !bytes.Contains(nfct, e.Bytes()) {
		t.Fatalf("our tuple % x is not nfct's", e.Bytes())
	}
	e.Reset()
	encodeHelper(e, &ftpDefault, fields{policies: true, privLen: true})
	ours, err := decodeHelper(e.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(got, ours); d != "" {
		t.Fatalf("ours decodes differently (-nfct +ours)\n%s", d)
	}
}

func TestWireRoundTrip(t *testing.T) {
	for _, h := range []Helper{
		ftpDefault,
		{Name: "rpc", Family: unix.AF_INET6, Proto: unix.IPPROTO_UDP, QueueNum: 2, PrivLen: 16, Status: Enabled,
			Policies: []Policy{{"rpc", 1, 300}}},
		{Name: "sip", Family: unix.AF_INET, Proto: unix.IPPROTO_UDP, QueueNum: 65535,
			Policies: []Policy{{"signalling", 1, 180}, {"audio", 4, 180}, {"video", 4, 180}, {"image", 2, 180}}},
	} {
		e := ctnl.NewEncoder(nil)
		encodeHelper(e, &h, allFields)
		got, err := decodeHelper(e.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(h, got); d != "" {
			t.Errorf("%s: (-want +got)\n%s", h.Name, d)
		}
	}
}

func TestValidate(t *testing.T) {
	ok := ftpDefault
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, mod := range map[string]func(h *Helper){
		"at most 15":   func(h *Helper) { h.Name = "sixteen-bytes-xx" },
		"empty helper": func(h *Helper) { h.Name = "" },
		"no expectat":  func(h *Helper) { h.Policies = nil },
		"at most 4":    func(h *Helper) { h.Policies = make([]Policy, 5) },
		"above the ke": func(h *Helper) { h.Policies = []Policy{{"ftp", 256, 1}} },
		"32":           func(h *Helper) { h.PrivLen = 33 },
		"space":        func(h *Helper) { h.Name = "a b" },
		"65535":        func(h *Helper) { h.QueueNum = 65536 },
	} {
		h := ftpDefault
		h.Policies = append([]Policy(nil), ftpDefault.Policies...)
		mod(&h)
		if err := h.Validate(); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: Validate() = %v", name, err)
		}
	}
}

func FuzzDecodeHelper(f *testing.F) {
	e := ctnl.NewEncoder(nil)
	encodeHelper(e, &ftpDefault, allFields)
	f.Add(e.Bytes())
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := decodeHelper(b)
		if err != nil || h.Validate() != nil || len(h.Policies) == 0 {
			return
		}
		// What decodes cleanly and is valid must survive a round trip.
		e := ctnl.NewEncoder(nil)
		encodeHelper(e, &h, allFields)
		h2, err := decodeHelper(e.Bytes())
		if err != nil || !cmp.Equal(h, h2) {
			t.Fatalf("round trip of %+v gave %+v, %v", h, h2, err)
		}
	})
}
