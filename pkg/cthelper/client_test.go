package cthelper

import (
	"errors"
	"strings"
	"testing"

	"github.com/gonfct/gonfct/pkg/ctnl"
	"github.com/gonfct/gonfct/pkg/ctnl/ctnltest"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// fakeKernel answers cthelper requests from a list of helpers, as the
// kernel's nfnetlink_cthelper does, and records what it was sent.
type fakeKernel struct {
	helpers []Helper
	sent    []netlink.Message
	errno   map[uint8]unix.Errno // by message type
}

// serve answers one request with the kernel's datagrams.
func (k *fakeKernel) serve(r netlink.Message) [][]netlink.Message {
	k.sent = append(k.sent, r)
	typ := uint8(r.Header.Type & 0xff)
	if e, ok := k.errno[typ]; ok {
		return [][]netlink.Message{{ctnltest.Ack(r, e)}}
	}
	if typ == msgGet && r.Header.Flags&netlink.Dump != 0 {
		var out []netlink.Message
		for i := range k.helpers {
			e := ctnl.NewEncoder(nil)
			encodeHelper(e, &k.helpers[i], allFields)
			out = append(out, ctnltest.Reply(r, msgNew, netlink.Multi, 0, e.Bytes()))
		}
		return [][]netlink.Message{append(out, ctnltest.Done(r))}
	}
	return [][]netlink.Message{{ctnltest.Ack(r, 0)}}
}

func newFake(k *fakeKernel) *Client {
	return NewClient(ctnltest.Dial(ctnltest.Serve(k.serve)))
}

func TestAddFlags(t *testing.T) {
	k := &fakeKernel{}
	cl := newFake(k)
	h := ftpDefault
	if err := cl.Add(&h, false); err != nil {
		t.Fatal(err)
	}
	f := k.sent[0].Header.Flags
	if f&netlink.Excl == 0 || f&netlink.Create == 0 || f&netlink.Acknowledge == 0 {
		t.Fatalf("add sent flags %v, want create|excl|ack", f)
	}
	got, err := decodeHelper(k.sent[0].Data[4:])
	if err != nil || got.Name != "ftp" || got.PrivLen != 24 {
		t.Fatalf("add sent %+v, %v", got, err)
	}
}

func TestErrorsExplained(t *testing.T) {
	// EINVAL everywhere, the dump probe included: the subsystem is absent.
	k := &fakeKernel{errno: map[uint8]unix.Errno{msgNew: unix.EINVAL, msgGet: unix.EINVAL}}
	h := ftpDefault
	err := newFake(k).Add(&h, false)
	if !errors.Is(err, ctnl.ErrNotSupported) || !strings.Contains(err.Error(), "lacks nfnetlink_cthelper") {
		t.Fatalf("EINVAL without cthelper: %v", err)
	}
	// EINVAL on NEW while dumps work: a genuine invalid argument.
	k = &fakeKernel{errno: map[uint8]unix.Errno{msgNew: unix.EINVAL}}
	if err := newFake(k).Add(&h, false); errors.Is(err, ctnl.ErrNotSupported) || !errors.Is(err, unix.EINVAL) {
		t.Fatalf("EINVAL with cthelper: %v", err)
	}
	k = &fakeKernel{errno: map[uint8]unix.Errno{msgNew: unix.EBUSY}}
	if err := newFake(k).Add(&h, false); !errors.Is(err, ctnl.ErrBusy) || !strings.Contains(err.Error(), "kernel helper named \"ftp\"") {
		t.Fatalf("EBUSY: %v", err)
	}
	k = &fakeKernel{errno: map[uint8]unix.Errno{msgNew: unix.EEXIST}}
	if err := newFake(k).Add(&h, false); !errors.Is(err, ctnl.ErrExists) || !strings.HasSuffix(err.Error(), ": it exists already") {
		t.Fatalf("EEXIST: %v", err)
	}
	k = &fakeKernel{errno: map[uint8]unix.Errno{msgNew: unix.EPERM}}
	if err := newFake(k).Add(&h, false); !errors.Is(err, ctnl.ErrPermission) || !strings.Contains(err.Error(), "CAP_NET_ADMIN") {
		t.Fatalf("EPERM: %v", err)
	}
	k = &fakeKernel{helpers: []Helper{ftpDefault}, errno: map[uint8]unix.Errno{msgDel: unix.EBUSY}}
	if err := newFake(k).Delete("ftp", 0, 0); !strings.Contains(err.Error(), "in use by a ruleset") {
		t.Fatalf("EBUSY on delete: %v", err)
	}
}

func TestDeleteByFamily(t *testing.T) {
	v6 := ftpDefault
	v6.Family = unix.AF_INET6
	k := &fakeKernel{helpers: []Helper{ftpDefault, v6}}
	if err := newFake(k).Delete("ftp", unix.AF_INET6, 0); err != nil {
		t.Fatal(err)
	}
	var dels []Helper
	for _, m := range k.sent {
		if uint8(m.Header.Type&0xff) == msgDel {
			h, _ := decodeHelper(m.Data[4:])
			dels = append(dels, h)
		}
	}
	if len(dels) != 1 || dels[0].Family != unix.AF_INET6 || dels[0].Proto != unix.IPPROTO_TCP {
		t.Fatalf("deleted %+v, want only ftp inet6 tcp", dels)
	}
	if err := newFake(k).Delete("tftp", 0, 0); !errors.Is(err, ctnl.ErrNotFound) {
		t.Fatalf("delete of a missing helper: %v", err)
	}
}

func TestUpdateKeepsWhatItDoesNotChange(t *testing.T) {
	k := &fakeKernel{helpers: []Helper{ftpDefault}}
	q := uint32(5)
	err := newFake(k).Update("ftp", unix.AF_INET, unix.IPPROTO_TCP, Update{QueueNum: &q, Policies: []Policy{{"ftp", 2, 120}}})
	if err != nil {
		t.Fatal(err)
	}
	last := k.sent[len(k.sent)-1]
	if last.Header.Flags&(netlink.Excl|netlink.Create) != 0 {
		t.Fatalf("update sent flags %v", last.Header.Flags)
	}
	s := ctnl.NewScanner(last.Data[4:])
	seen := map[uint16]bool{}
	for s.Next() {
		seen[s.Type()] = true
	}
	if seen[attrPrivLen] || seen[attrStatus] || !seen[attrQueueNum] || !seen[attrPolicy] {
		t.Fatalf("update sent attributes %v: want queue and policy, no private-data length or status", seen)
	}
	err = newFake(k).Update("ftp", unix.AF_INET, unix.IPPROTO_TCP, Update{Policies: []Policy{{"other", 1, 1}}})
	if err == nil || !strings.Contains(err.Error(), "cannot add or rename policies") {
		t.Fatalf("update with a new policy name: %v", err)
	}
}

func TestFlushReportsKept(t *testing.T) {
	k := &fakeKernel{helpers: []Helper{ftpDefault}}
	kept, err := newFake(k).Flush()
	if err != nil || len(kept) != 1 {
		t.Fatalf("flush: kept %v, %v", kept, err)
	}
	// Every helper in use: the kernel answers EBUSY, which is no failure.
	k.errno = map[uint8]unix.Errno{msgDel: unix.EBUSY}
	kept, err = newFake(k).Flush()
	if err != nil || len(kept) != 1 {
		t.Fatalf("flush with all in use: kept %v, %v", kept, err)
	}
}
