package cttimeout

import (
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	"github.com/gonfct/gonfct/pkg/ctnl"
	"github.com/gonfct/gonfct/pkg/ctnl/ctnltest"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// fakeKernel answers cttimeout requests the way Linux 6.18 does (see the
// package comment), for the client logic; the host tests check the same
// against the real kernel.
type fakeKernel struct {
	policies []Policy
	defaults Timeouts
	sent     []netlink.Message
}

func (k *fakeKernel) dial() *ctnl.Conn {
	return ctnltest.Dial(ctnltest.Serve(func(req netlink.Message) [][]netlink.Message {
		k.sent = append(k.sent, req)
		return k.serve(req)
	}))
}

func (k *fakeKernel) find(name string) int {
	for i, p := range k.policies {
		if p.Name == name {
			return i
		}
	}
	return -1
}

func answer(req netlink.Message, p Policy, flags netlink.HeaderFlags) netlink.Message {
	e := ctnl.NewEncoder(nil)
	if p.Name != "" {
		e.String(attrName, p.Name)
	}
	marshalKey(e, p.Family, p.Proto)
	if p.Use != 0 {
		e.Uint32(attrUse, p.Use)
	}
	marshalData(e, p.Timeouts)
	return netlink.Message{
		Header: netlink.Header{Type: req.Header.Type &^ 0xff, Flags: flags, Sequence: req.Header.Sequence, PID: req.Header.PID},
		Data:   append([]byte{0, 0, 0, 0}, e.Bytes()...),
	}
}

// serve answers one request with the kernel's datagrams.
func (k *fakeKernel) serve(req netlink.Message) [][]netlink.Message {
	p, _ := unmarshalPolicy(req.Data[4:])
	i := k.find(p.Name)
	fail := func(errno unix.Errno) [][]netlink.Message {
		return [][]netlink.Message{{ctnltest.Ack(req, errno)}}
	}
	switch req.Header.Type & 0xff {
	case msgNew:
		switch {
		case i >= 0 && req.Header.Flags&netlink.Excl != 0:
			return fail(unix.EEXIST)
		case i >= 0 && req.Header.Flags&netlink.Replace != 0:
			cur := &k.policies[i]
			if cur.Family != p.Family || cur.Proto != p.Proto {
				return fail(unix.EINVAL)
			}
			t := k.defaults // the kernel's reset to defaults
			t.Merge(p.Timeouts)
			cur.Timeouts = t
		case i >= 0:
			return fail(unix.EBUSY)
		default:
			t := k.defaults
			t.Merge(p.Timeouts)
			p.Timeouts, p.Use = t, 1
			k.policies = append(k.policies, p)
		}
	case msgGet:
		if req.Header.Flags&netlink.Dump == netlink.Dump {
			var out []netlink.Message
			for _, p := range k.policies {
				out = append(out, answer(req, p, netlink.Multi))
			}
			return [][]netlink.Message{append(out, ctnltest.Done(req))}
		}
		if i < 0 {
			return fail(unix.ENOENT)
		}
		return [][]netlink.Message{{answer(req, k.policies[i], netlink.Multi)}, {ctnltest.Ack(req, 0)}}
	case msgDelete:
		if p.Name == "" {
			var kept []Policy
			for _, p := range k.policies {
				if p.Use > 1 {
					kept = append(kept, p)
				}
			}
			k.policies = kept
			break
		}
		if i < 0 {
			return fail(unix.ENOENT)
		}
		if k.policies[i].Use > 1 {
			return fail(unix.EBUSY)
		}
		k.policies = append(k.policies[:i], k.policies[i+1:]...)
	}
	return [][]netlink.Message{{ctnltest.Ack(req, 0)}}
}

func tcpDefaults() Timeouts {
	return timeouts(1, 120, 2, 60, 3, 432000, 4, 120, 5, 60, 6, 30, 7, 120, 8, 10, 9, 120, 10, 300, 11, 300)
}

// Update keeps the states it is not told to change, although the kernel's
// REPLACE resets them to the defaults: it sends all of them.
func TestUpdateKeepsOtherStates(t *testing.T) {
	k := &fakeKernel{defaults: tcpDefaults()}
	c := k.dial()
	if err := Add(c, Policy{Name: "web", Family: unix.AF_INET, Proto: unix.IPPROTO_TCP, Timeouts: timeouts(1, 5, 3, 100)}); err != nil {
		t.Fatal(err)
	}
	s, _ := ParseSettings([]string{"established", "200"})
	got, err := Update(c, "web", 0, 0, s)
	if err != nil {
		t.Fatal(err)
	}
	want := tcpDefaults()
	want.Set(1, 5)
	want.Set(3, 200)
	if got.Timeouts != want || k.policies[0].Timeouts != want {
		t.Errorf("after update: returned %+v, kernel has %+v, want %+v", got.Timeouts, k.policies[0].Timeouts, want)
	}
	last := k.sent[len(k.sent)-1]
	if last.Header.Flags&netlink.Replace == 0 || last.Header.Flags&netlink.Create != 0 {
		t.Errorf("update sent flags %v, want REPLACE without CREATE", last.Header.Flags)
	}
}

func TestUpdateChecksBeforeWriting(t *testing.T) {
	k := &fakeKernel{defaults: tcpDefaults()}
	c := k.dial()
	if err := Add(c, Policy{Name: "web", Family: unix.AF_INET, Proto: unix.IPPROTO_TCP, Timeouts: timeouts(3, 100)}); err != nil {
		t.Fatal(err)
	}
	n := len(k.sent)
	s, _ := ParseSettings([]string{"replied", "200"})
	if _, err := Update(c, "web", 0, 0, s); !errors.Is(err, ErrUsage) || !strings.Contains(err.Error(), "unknown tcp state") {
		t.Errorf("udp state on a tcp policy: %v", err)
	}
	s, _ = ParseSettings([]string{"established", "200"})
	if _, err := Update(c, "web", unix.AF_INET6, unix.IPPROTO_TCP, s); !errors.Is(err, ErrMismatch) || !strings.Contains(err.Error(), "it is inet tcp, not inet6 tcp") {
		t.Errorf("family mismatch: %v", err)
	}
	if _, err := Update(c, "nope", 0, 0, s); !errors.Is(err, ctnl.ErrNotFound) || !strings.Contains(err.Error(), `no timeout policy "nope" in this network namespace`) {
		t.Errorf("absent policy: %v", err)
	}
	for _, m := range k.sent[n:] {
		if m.Header.Type&0xff == msgNew {
			t.Errorf("a refused update wrote: %+v", m.Header)
		}
	}
}

func TestAddExistingPointsToUpdate(t *testing.T) {
	k := &fakeKernel{defaults: tcpDefaults()}
	c := k.dial()
	p := Policy{Name: "web", Family: unix.AF_INET, Proto: unix.IPPROTO_TCP, Timeouts: timeouts(3, 100)}
	if err := Add(c, p); err != nil {
		t.Fatal(err)
	}
	err := Add(c, p)
	if !errors.Is(err, ctnl.ErrExists) || !strings.Contains(err.Error(), "add timeout policy web: EEXIST") || strings.Contains(err.Error(), "gonfct") {
		t.Errorf("second add: %v", err)
	}
}

func TestDeleteBusySaysHowManyRules(t *testing.T) {
	k := &fakeKernel{policies: []Policy{{Name: "web", Family: unix.AF_INET, Proto: unix.IPPROTO_TCP, Use: 3, Timeouts: tcpDefaults()}}}
	c := k.dial()
	err := Delete(c, "web")
	if !errors.Is(err, ctnl.ErrBusy) || !strings.Contains(err.Error(), "in use by 2 rule(s)") {
		t.Errorf("delete of a used policy: %v", err)
	}
}

func TestFlushReportsKept(t *testing.T) {
	k := &fakeKernel{policies: []Policy{
		{Name: "a", Family: unix.AF_INET, Proto: unix.IPPROTO_UDP, Use: 1},
		{Name: "b", Family: unix.AF_INET, Proto: unix.IPPROTO_UDP, Use: 2},
	}}
	kept, err := Flush(k.dial())
	if err != nil || len(kept) != 1 || kept[0] != "b" {
		t.Errorf("Flush = %v, %v; want [b]", kept, err)
	}
}

func TestInvalidInputSendsNothing(t *testing.T) {
	k := &fakeKernel{}
	c := k.dial()
	long := strings.Repeat("x", 32)
	errs := []error{
		Add(c, Policy{Name: long, Family: unix.AF_INET, Proto: unix.IPPROTO_TCP}),
		Add(c, Policy{Name: "a", Family: 7, Proto: unix.IPPROTO_TCP}),
		Add(c, Policy{Name: "a", Family: unix.AF_INET, Proto: 50}),
		Delete(c, ""),
		DefaultSet(c, unix.AF_INET, unix.IPPROTO_TCP, Timeouts{}),
	}
	_, err := Get(c, long)
	errs = append(errs, err)
	for i, err := range errs {
		if !errors.Is(err, ErrUsage) {
			t.Errorf("case %d: %v, want a usage error", i, err)
		}
	}
	if len(k.sent) != 0 {
		t.Errorf("%d requests sent for invalid input", len(k.sent))
	}
}

func TestRequestHeader(t *testing.T) {
	m := addRequest(Policy{Name: "a", Family: unix.AF_INET, Proto: unix.IPPROTO_TCP}).Message()
	if m.Header.Type != netlink.HeaderType(subsysTimeout<<8|msgNew) {
		t.Errorf("type %#x", m.Header.Type)
	}
	if binary.BigEndian.Uint16(m.Data[2:]) != 0 || m.Data[0] != unix.AF_UNSPEC {
		t.Errorf("nfgenmsg % x", m.Data[:4])
	}
}
