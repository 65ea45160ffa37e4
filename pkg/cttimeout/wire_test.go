package cttimeout

import (
	"bytes"
	"testing"

	"github.com/gonfct/gonfct/pkg/ctnl"
	"github.com/google/go-cmp/cmp"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

func timeouts(kv ...uint32) Timeouts {
	var t Timeouts
	for i := 0; i < len(kv); i += 2 {
		t.Set(uint16(kv[i]), kv[i+1])
	}
	return t
}

// Our requests against the bytes nfct sent for the same command
// (testdata/*.strace, made by testdata/capture.sh on Linux 6.18).
func TestMarshalMatchesNfct(t *testing.T) {
	for _, tc := range []struct {
		fixture string
		req     ctnl.Request
		// extraFlags are flags we send and nfct does not: EXCL on add, so
		// that an existing name answers EEXIST rather than EBUSY.
		extraFlags netlink.HeaderFlags
	}{
		{"add-tcp", addRequest(Policy{Name: "web", Family: unix.AF_INET, Proto: unix.IPPROTO_TCP,
			Timeouts: timeouts(3, 100, 1, 5, 11, 7)}), netlink.Excl},
		{"add-udp6", addRequest(Policy{Name: "dns", Family: unix.AF_INET6, Proto: unix.IPPROTO_UDP,
			Timeouts: timeouts(2, 50)}), netlink.Excl},
		{"add-sctp", addRequest(Policy{Name: "sig", Family: unix.AF_INET, Proto: unix.IPPROTO_SCTP,
			Timeouts: timeouts(4, 600, 1, 3)}), netlink.Excl},
		{"add-icmp", addRequest(Policy{Name: "ping", Family: unix.AF_INET, Proto: unix.IPPROTO_ICMP,
			Timeouts: timeouts(1, 9)}), netlink.Excl},
		{"add-generic", addRequest(Policy{Name: "other", Family: unix.AF_INET6, Proto: ProtoGeneric,
			Timeouts: timeouts(1, 45)}), netlink.Excl},
		{"get-tcp", getRequest("web"), 0},
		{"get-sctp", getRequest("sig"), 0},
		{"list", listRequest(), 0},
		{"delete", deleteRequest("dns"), 0},
		{"flush", flushRequest(), 0},
		{"default-set", defaultSetRequest(unix.AF_INET, unix.IPPROTO_UDP, timeouts(1, 31, 2, 170)), 0},
		{"default-get-udp", defaultGetRequest(unix.AF_INET, unix.IPPROTO_UDP), 0},
		{"default-get-tcp", defaultGetRequest(unix.AF_INET6, unix.IPPROTO_TCP), 0},
	} {
		t.Run(tc.fixture, func(t *testing.T) {
			want := sent(t, tc.fixture)
			got := tc.req.Message()
			if uint16(got.Header.Type) != want.Type {
				t.Errorf("type %#x, nfct sent %#x", got.Header.Type, want.Type)
			}
			if wantFlags := netlink.HeaderFlags(want.Flags) | tc.extraFlags; got.Header.Flags != wantFlags {
				t.Errorf("flags %v, want %v", got.Header.Flags, wantFlags)
			}
			if !bytes.Equal(got.Data, want.Payload) {
				t.Errorf("payload\n% x\nnfct sent\n% x", got.Data, want.Payload)
			}
		})
	}
}

// The kernel's answers nfct received, decoded.
func TestUnmarshalKernelAnswers(t *testing.T) {
	web := Policy{Name: "web", Family: unix.AF_INET, Proto: unix.IPPROTO_TCP, Use: 1,
		Timeouts: timeouts(1, 5, 2, 60, 3, 100, 4, 120, 5, 60, 6, 30, 7, 120, 8, 10, 9, 120, 10, 300, 11, 7)}
	sig := Policy{Name: "sig", Family: unix.AF_INET, Proto: unix.IPPROTO_SCTP, Use: 1,
		Timeouts: timeouts(1, 3, 2, 3, 3, 3, 4, 600, 5, 3, 6, 3, 7, 3, 8, 30, 9, 0)}
	for _, tc := range []struct {
		fixture string
		want    []Policy
	}{
		{"get-tcp", []Policy{web}},
		{"get-sctp", []Policy{sig}},
		{"list", []Policy{
			web,
			{Name: "dns", Family: unix.AF_INET6, Proto: unix.IPPROTO_UDP, Use: 1, Timeouts: timeouts(1, 30, 2, 50)},
			sig,
			{Name: "ping", Family: unix.AF_INET, Proto: unix.IPPROTO_ICMP, Use: 1, Timeouts: timeouts(1, 9)},
			{Name: "other", Family: unix.AF_INET6, Proto: ProtoGeneric, Use: 1, Timeouts: timeouts(1, 45)},
		}},
		{"default-get-udp", []Policy{{Family: unix.AF_INET, Proto: unix.IPPROTO_UDP, Timeouts: timeouts(1, 31, 2, 170)}}},
		{"default-get-tcp", []Policy{{Family: unix.AF_INET6, Proto: unix.IPPROTO_TCP,
			Timeouts: timeouts(1, 120, 2, 60, 3, 432000, 4, 120, 5, 60, 6, 30, 7, 120, 8, 10, 9, 120, 10, 300, 11, 300)}}},
	} {
		t.Run(tc.fixture, func(t *testing.T) {
			var got []Policy
			for _, m := range received(t, tc.fixture) {
				p, err := unmarshalPolicy(m.Payload[4:])
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, p)
			}
			if diff := cmp.Diff(tc.want, got, cmp.AllowUnexported(Timeouts{})); diff != "" {
				t.Errorf("decoded policies (-want +got):\n%s", diff)
			}
		})
	}
}

// -o nfct: what we print from the kernel's answer is what nfct printed
// from the same answer.
func TestAppendNfctMatchesNfct(t *testing.T) {
	for _, fixture := range []string{"get-tcp", "get-sctp", "list", "default-get-udp", "default-get-tcp"} {
		t.Run(fixture, func(t *testing.T) {
			var b []byte
			for _, m := range received(t, fixture) {
				p, err := unmarshalPolicy(m.Payload[4:])
				if err != nil {
					t.Fatal(err)
				}
				b = AppendNfct(b, p)
			}
			if want := readOut(t, fixture); string(b) != want {
				t.Errorf("printed\n%s\nnfct printed\n%s", b, want)
			}
		})
	}
}

func TestMarshalUnmarshalRoundTrip(t *testing.T) {
	for _, p := range []Policy{
		{Name: "a", Family: unix.AF_INET, Proto: unix.IPPROTO_TCP, Timeouts: timeouts(11, 1)},
		{Name: "0123456789012345678901234567890", Family: unix.AF_INET6, Proto: unix.IPPROTO_DCCP,
			Timeouts: timeouts(1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, MaxSeconds)},
		{Name: "gre", Family: unix.AF_INET, Proto: unix.IPPROTO_GRE},
	} {
		e := ctnl.NewEncoder(nil)
		marshalPolicy(e, p)
		got, err := unmarshalPolicy(e.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(p, got, cmp.AllowUnexported(Timeouts{})); diff != "" {
			t.Errorf("round trip (-want +got):\n%s", diff)
		}
	}
}

func TestUnmarshalMalformed(t *testing.T) {
	for name, b := range map[string][]byte{
		"truncated header":  {0x08, 0x00},
		"length past end":   {0x10, 0x00, 0x01, 0x00, 'a', 0},
		"short state value": {0x0c, 0x00, 0x04, 0x80, 0x06, 0x00, 0x01, 0x00, 0x00, 0x05, 0x00, 0x00},
	} {
		if _, err := unmarshalPolicy(b); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func FuzzUnmarshalPolicy(f *testing.F) {
	e := ctnl.NewEncoder(nil)
	marshalPolicy(e, Policy{Name: "web", Family: unix.AF_INET, Proto: unix.IPPROTO_TCP, Timeouts: timeouts(3, 100, 11, 7)})
	f.Add(e.Bytes())
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := unmarshalPolicy(b)
		if err != nil {
			return
		}
		_ = AppendNfct(nil, p)
		// What decodes re-encodes to something that decodes the same.
		e := ctnl.NewEncoder(nil)
		marshalPolicy(e, p)
		q, err := unmarshalPolicy(e.Bytes())
		if err != nil {
			t.Fatalf("re-encoded policy does not decode: %v", err)
		}
		if q.Name != p.Name || q.Proto != p.Proto || q.Timeouts != p.Timeouts {
			t.Fatalf("round trip changed %+v into %+v", p, q)
		}
	})
}

func TestUnmarshalDoesNotAllocateWithoutName(t *testing.T) {
	e := ctnl.NewEncoder(nil)
	marshalDefaults(e, unix.AF_INET, unix.IPPROTO_TCP, timeouts(1, 1, 2, 2, 3, 3, 11, 11))
	b := e.Bytes()
	if n := testing.AllocsPerRun(100, func() { _, _ = unmarshalPolicy(b) }); n != 0 {
		t.Errorf("unmarshalPolicy allocates %v times per call", n)
	}
}

// A dump of a thousand policies decodes in well under a millisecond; the
// decoder allocates only the name.
func BenchmarkUnmarshalPolicy(b *testing.B) {
	e := ctnl.NewEncoder(nil)
	e.String(attrName, "web")
	marshalKey(e, unix.AF_INET, unix.IPPROTO_TCP)
	e.Uint32(attrUse, 1)
	marshalData(e, timeouts(1, 5, 2, 60, 3, 100, 4, 120, 5, 60, 6, 30, 7, 120, 8, 10, 9, 120, 10, 300, 11, 7))
	buf := e.Bytes()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := unmarshalPolicy(buf); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppendNfct(b *testing.B) {
	p := Policy{Name: "web", Family: unix.AF_INET, Proto: unix.IPPROTO_TCP,
		Timeouts: timeouts(1, 5, 2, 60, 3, 100, 4, 120, 5, 60, 6, 30, 7, 120, 8, 10, 9, 120, 10, 300, 11, 7)}
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendNfct(buf[:0], p)
	}
}
