package engine

import (
	"bytes"
	"encoding/hex"
	"os"
	"strings"
	"testing"

	"github.com/gonfct/gonfct/pkg/ctnetlink"
	"github.com/gonfct/gonfct/pkg/ctnl"
)

// FuzzDecodeConntrack decodes arbitrary bytes as the NFQA_CT of a queued
// packet: no panic, the helper name and private data alias the packet,
// and what decoded encodes (in the kernel's layout) to attributes that
// decode the same. Whether tuples survive their own codec is the tuple
// codec's fuzzing; here they only have to be there.
func FuzzDecodeConntrack(f *testing.F) {
	f.Add(conntrackAttrs(true, ftpPriv(1000)))
	f.Add(conntrackAttrs(false, nil))
	for _, ct := range realConntracks(f) {
		f.Add(ct)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var v conntrackView
		if err := decodeConntrack(b, &v); err != nil {
			return
		}
		if bytes.IndexByte(v.helper, 0) >= 0 {
			t.Fatalf("helper name %q holds a NUL", v.helper)
		}
		for _, d := range [][]byte{v.helper, v.info} {
			if !within(d, b) {
				t.Fatalf("% x is not a slice of NFQA_CT", d)
			}
		}
		e := ctnl.NewEncoder(nil)
		v.orig.Encode(e, ctnetlink.AttrTupleOrig)
		v.reply.Encode(e, ctnetlink.AttrTupleReply)
		e.Uint32(ctnetlink.AttrStatus, v.status)
		if v.hasZone {
			e.Uint16(ctnetlink.AttrZone, v.zone)
		}
		if v.helper != nil || v.info != nil {
			h := e.Nest(ctnetlink.AttrHelp)
			if v.helper != nil {
				e.String(ctnetlink.AttrHelpName, string(v.helper))
			}
			if v.info != nil {
				e.Put(ctnetlink.AttrHelpInfo, v.info)
			}
			e.End(h)
		}
		var again conntrackView
		if err := decodeConntrack(e.Bytes(), &again); err != nil {
			t.Fatalf("re-encoded %+v: %v", v, err)
		}
		if again.status != v.status || again.zone != v.zone || again.hasZone != v.hasZone || again.confirmed() != v.confirmed() ||
			!bytes.Equal(again.helper, v.helper) || !bytes.Equal(again.info, v.info) {
			t.Fatalf("re-encoded conntrack decodes as %+v, want %+v", again, v)
		}
	})
}

// The conntracks of real queued packets (an FTP control connection with
// the kernel's ftp helper) decode with their tuples and helper.
func TestDecodeRealConntracks(t *testing.T) {
	cts := realConntracks(t)
	if len(cts) == 0 {
		t.Fatal("no real conntracks")
	}
	for i, ct := range cts {
		var v conntrackView
		if err := decodeConntrack(ct, &v); err != nil {
			t.Fatalf("conntrack %d: %v", i, err)
		}
		if string(v.helper) != "ftp" || v.orig.DstPort != 21 || v.reply.SrcPort != 21 || v.orig.Src != v.reply.Dst ||
			!v.orig.Src.IsLoopback() {
			t.Errorf("conntrack %d: %+v", i, v)
		}
	}
}

// realConntracks are the NFQA_CT attributes of the real queued packets
// kept as pkg/nfq's test data.
func realConntracks(tb testing.TB) [][]byte {
	tb.Helper()
	b, err := os.ReadFile("../../nfq/testdata/real-packets.txt")
	if err != nil {
		tb.Fatal(err)
	}
	var out [][]byte
	for _, line := range strings.Split(string(b), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		attrs, err := hex.DecodeString(line)
		if err != nil {
			tb.Fatal(err)
		}
		s := ctnl.NewScanner(attrs)
		for s.Next() {
			if s.Type() == 11 { // NFQA_CT
				out = append(out, s.Data())
			}
		}
	}
	return out
}

// within says whether d, unless empty, is a slice of b's bytes.
func within(d, b []byte) bool {
	if len(d) == 0 {
		return true
	}
	for i := range b {
		if &b[i] == &d[0] {
			return i+len(d) <= len(b)
		}
	}
	return false
}
