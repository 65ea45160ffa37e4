package ctflow

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/gonfct/gonfct/pkg/ctnetlink"
	"github.com/gonfct/gonfct/pkg/ctnl"
	"github.com/gonfct/gonfct/pkg/ctnl/ctnltest"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// fakeKernel answers conntrack requests the way ctnetlink does (6.18,
// nf_conntrack_netlink.c), for the client logic: create/update/get/delete
// by original tuple, NLM_F_EXCL, helpers only at creation, status bits
// that cannot be cleared. The host tests hold the same against the kernel.
type fakeKernel struct {
	table map[string]Flow
	sent  []netlink.Message
	ids   uint32
}

func newFakeKernel() *fakeKernel { return &fakeKernel{table: map[string]Flow{}} }

func (k *fakeKernel) dial() *Client {
	return NewClient(ctnltest.Dial(ctnltest.Serve(func(req netlink.Message) [][]netlink.Message {
		k.sent = append(k.sent, req)
		return k.serve(req)
	})))
}

func key(t ctnetlink.Tuple, zone uint16) string {
	t.Zone, t.HasZone = 0, false
	return t.String() + " zone " + string(rune('0'+zone))
}

// answer encodes a table entry as the kernel's dump message does.
func answer(req netlink.Message, f *Flow, flags netlink.HeaderFlags) netlink.Message {
	e := ctnl.NewEncoder(nil)
	f.Orig.Encode(e, ctnetlink.AttrTupleOrig)
	f.Reply.Encode(e, ctnetlink.AttrTupleReply)
	if f.Has(HasZone) {
		e.Uint16(ctnetlink.AttrZone, f.Zone)
	}
	e.Uint32(ctnetlink.AttrStatus, uint32(f.Status))
	e.Uint32(ctnetlink.AttrMark, f.Mark)
	e.Uint32(ctnetlink.AttrID, f.ID)
	e.Uint32(ctnetlink.AttrTimeout, f.Timeout)
	encodeHelp(e, f)
	return netlink.Message{
		Header: netlink.Header{Type: netlink.HeaderType(1<<8 | ctnetlink.MsgNew), Flags: flags, Sequence: req.Header.Sequence, PID: req.Header.PID},
		Data:   append([]byte{unix.AF_INET, 0, 0, 0}, e.Bytes()...),
	}
}

// serve answers one request with the kernel's datagrams.
func (k *fakeKernel) serve(req netlink.Message) [][]netlink.Message {
	fail := func(errno unix.Errno) [][]netlink.Message {
		return [][]netlink.Message{{ctnltest.Ack(req, errno)}}
	}
	var in Flow
	if err := Decode(req.Data[0], req.Data[4:], &in); err != nil {
		return fail(unix.EINVAL)
	}
	kk := key(in.Orig, in.Zone)
	cur, exists := k.table[kk]
	switch req.Header.Type & 0xff {
	case ctnetlink.MsgNew:
		switch {
		case exists && req.Header.Flags&netlink.Excl != 0:
			return fail(unix.EEXIST)
		case exists:
			if in.Has(HasHelper) {
				if !cur.Has(HasHelper) {
					return fail(unix.EOPNOTSUPP)
				}
				if cur.Helper() != in.Helper() {
					return fail(unix.EBUSY)
				}
				if in.Has(HasHelperInfo) {
					_ = cur.SetHelperInfo(in.HelperInfo())
				}
			}
			if in.Has(HasStatus) {
				d := cur.Status ^ in.Status
				if d&(StatusExpected|StatusConfirmed|StatusDying) != 0 || d&cur.Status&(StatusSeenReply|StatusAssured) != 0 {
					return fail(unix.EBUSY)
				}
				cur.Status |= in.Status & Settable
			}
			if in.Has(HasTimeout) {
				cur.Timeout = in.Timeout
			}
			if in.Has(HasMark) {
				cur.Mark = in.Mark
			}
			k.table[kk] = cur
		case req.Header.Flags&netlink.Create == 0:
			return fail(unix.ENOENT)
		default:
			if !in.Reply.Src.IsValid() || !in.Has(HasTimeout) {
				return fail(unix.EINVAL)
			}
			if in.Has(HasHelper) && in.Helper() != "ftp" {
				return fail(unix.EOPNOTSUPP)
			}
			k.ids++
			in.ID, in.Set = k.ids, in.Set|HasID|HasMark
			if in.Has(HasHelper) {
				in.Status |= StatusHelper
				in.infoLen = 0 // the kernel drops CTA_HELP_INFO at creation
			}
			k.table[kk] = in
		}
		return [][]netlink.Message{{ctnltest.Ack(req, 0)}}
	case ctnetlink.MsgGet:
		if req.Header.Flags&netlink.Dump != 0 {
			var msgs []netlink.Message
			for _, f := range k.table {
				msgs = append(msgs, answer(req, &f, netlink.Multi))
			}
			return [][]netlink.Message{append(msgs, ctnltest.Done(req))}
		}
		if !exists {
			return fail(unix.ENOENT)
		}
		return [][]netlink.Message{{answer(req, &cur, netlink.Multi)}, {ctnltest.Ack(req, 0)}}
	case ctnetlink.MsgDelete:
		if !exists || (in.Has(HasID) && in.ID != cur.ID) {
			return fail(unix.ENOENT)
		}
		delete(k.table, kk)
		return [][]netlink.Message{{ctnltest.Ack(req, 0)}}
	}
	return fail(unix.EOPNOTSUPP)
}

func (k *fakeKernel) ops() []string {
	var out []string
	for _, m := range k.sent {
		op := [...]string{"new", "get", "delete"}[m.Header.Type&0xff]
		// NLM_F_DUMP and NLM_F_EXCL share a bit (0x200): GET means dump.
		switch {
		case m.Header.Flags&netlink.Dump == netlink.Dump:
			op += "+dump"
		case m.Header.Flags&netlink.Create != 0:
			op += "+create"
			if m.Header.Flags&netlink.Excl != 0 {
				op += "+excl"
			}
		}
		out = append(out, op)
	}
	k.sent = nil
	return out
}

func ftpFlow(sport uint16) Flow {
	o := ctnetlink.Tuple{Src: netip.MustParseAddr("10.0.0.1"), Dst: netip.MustParseAddr("10.0.0.2"), Proto: 6, SrcPort: sport, DstPort: 21}
	f := Flow{Family: unix.AF_INET, Orig: o, Reply: Invert(o), Timeout: 300, Status: StatusAssured | StatusSeenReply,
		Set: HasTimeout | HasStatus}
	_ = f.SetHelper("ftp")
	return f
}

func TestClientCreateAndRestore(t *testing.T) {
	k := newFakeKernel()
	cl := k.dial()
	f := ftpFlow(1000)
	_ = f.SetHelperInfo([]byte{1, 2, 3})
	if err := cl.Create(&f); err != nil {
		t.Fatal(err)
	}
	// Creation, then the private data again (the kernel drops it at create).
	if got := strings.Join(k.ops(), " "); got != "new+create+excl new" {
		t.Errorf("create sent %q", got)
	}
	if cur := k.table[key(f.Orig, 0)]; string(cur.HelperInfo()) != "\x01\x02\x03" {
		t.Errorf("private data %x", cur.HelperInfo())
	}
	err := cl.Create(&f)
	// Facts only: advice naming commands is the command line's.
	if !errors.Is(err, ctnl.ErrExists) || !strings.Contains(err.Error(), "exists") || strings.Contains(err.Error(), "gonfct") {
		t.Errorf("second create: %v", err)
	}
	k.ops()

	// Restore of an existing entry: refused creation, a look, an update.
	f.Timeout, f.Mark, f.Set = 900, 5, f.Set|HasMark
	o, err := cl.RestoreFlow(&f, RestoreOptions{})
	if o != Updated || err != nil {
		t.Fatalf("restore over existing: %v %v", o, err)
	}
	if got := strings.Join(k.ops(), " "); got != "new+create+excl get new" {
		t.Errorf("restore sent %q", got)
	}
	if cur := k.table[key(f.Orig, 0)]; cur.Timeout != 900 || cur.Mark != 5 || cur.Status&StatusHelper == 0 {
		t.Errorf("after restore: %+v", cur)
	}
	// Restore of a new entry: one request.
	g := ftpFlow(1001)
	g.Set &^= HasHelper
	g.helperLen = 0
	if o, err := cl.RestoreFlow(&g, RestoreOptions{}); o != Restored || err != nil {
		t.Fatalf("restore new: %v %v", o, err)
	}
	if got := strings.Join(k.ops(), " "); got != "new+create+excl" {
		t.Errorf("restore of a new conntrack sent %q", got)
	}
	// Dry run: looks only.
	h := ftpFlow(1002)
	if o, err := cl.RestoreFlow(&h, RestoreOptions{DryRun: true}); o != Restored || err != nil || len(k.table) != 2 {
		t.Fatalf("dry run: %v %v, %d entries", o, err, len(k.table))
	}
	if got := strings.Join(k.ops(), " "); got != "get" {
		t.Errorf("dry run sent %q", got)
	}
}

func TestClientRestoreHelperConflict(t *testing.T) {
	k := newFakeKernel()
	cl := k.dial()
	plain := ftpFlow(2000)
	plain.Set &^= HasHelper
	plain.helperLen = 0
	if err := cl.Create(&plain); err != nil {
		t.Fatal(err)
	}
	saved := ftpFlow(2000)
	o, err := cl.RestoreFlow(&saved, RestoreOptions{})
	if o != Skipped || err == nil || !strings.Contains(err.Error(), "only at creation") {
		t.Errorf("restore with another helper: %v %v", o, err)
	}
	o, err = cl.RestoreFlow(&saved, RestoreOptions{Replace: true})
	if cur := k.table[key(saved.Orig, 0)]; o != Updated || err != nil || cur.Helper() != "ftp" {
		t.Errorf("restore --replace: %v %v", o, err)
	}
	// The kernel's own refusals come back explained.
	other := ftpFlow(2000)
	_ = other.SetHelper("sip")
	other.Set = HasHelper
	if err := cl.Update(&other, 0); !errors.Is(err, ctnl.ErrBusy) || !strings.Contains(err.Error(), "never changes") {
		t.Errorf("update to another helper: %v", err)
	}
	bad := ftpFlow(2001)
	_ = bad.SetHelper("nosuch")
	if err := cl.Create(&bad); !errors.Is(err, ctnl.ErrNotSupported) || !strings.Contains(err.Error(), `no helper "nosuch"`) {
		t.Errorf("create with an unknown helper: %v", err)
	}
}

func TestClientListAndDeleteMatching(t *testing.T) {
	k := newFakeKernel()
	cl := k.dial()
	for i := uint16(0); i < 6; i++ {
		f := ftpFlow(3000 + i)
		if i%2 == 1 {
			f.Set &^= HasHelper
			f.helperLen = 0
		}
		if err := cl.Create(&f); err != nil {
			t.Fatal(err)
		}
	}
	k.ops()
	n := 0
	flt := Filter{HasHelper: true, Helper: "ftp", Family: unix.AF_INET}
	if err := cl.List(flt, func(f *Flow) error { n++; return nil }); err != nil || n != 3 {
		t.Fatalf("list --helper ftp: %d, %v", n, err)
	}
	if got := strings.Join(k.ops(), " "); got != "get+dump" {
		t.Errorf("list sent %q", got)
	}
	deleted, err := cl.DeleteMatching(flt, k.dial())
	if err != nil || deleted != 3 || len(k.table) != 3 {
		t.Fatalf("delete matching: %d, %v, %d left", deleted, err, len(k.table))
	}
	for _, f := range k.table {
		if f.Has(HasHelper) {
			t.Errorf("left %v with helper", f.Orig)
		}
	}
}

// Change repeats what the kernel wants repeated: the current status bits,
// and the helper's name with new private data; without a helper it
// refuses before asking the kernel.
func TestClientChange(t *testing.T) {
	k := newFakeKernel()
	cl := k.dial()
	f := ftpFlow(3000)
	f.Status = StatusSeenReply
	if err := cl.Create(&f); err != nil {
		t.Fatal(err)
	}
	k.ops()
	u := Flow{Family: f.Family, Orig: f.Orig, Status: StatusAssured, Set: HasStatus}
	_ = u.SetHelperInfo([]byte{7})
	u.Set &^= HasHelper
	if err := cl.Change(&u, 0); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(k.ops(), " "); got != "get new" {
		t.Errorf("change sent %q", got)
	}
	cur := k.table[key(f.Orig, 0)]
	if cur.Status&(StatusSeenReply|StatusAssured) != StatusSeenReply|StatusAssured || string(cur.HelperInfo()) != "\x07" {
		t.Errorf("after change: status %s, private data %x", cur.Status, cur.HelperInfo())
	}
	if u.Has(HasHelper) {
		t.Error("Change filled in the caller's flow")
	}

	plain := ftpFlow(3001)
	plain.Set &^= HasHelper
	plain.helperLen = 0
	if err := cl.Create(&plain); err != nil {
		t.Fatal(err)
	}
	k.ops()
	info := Flow{Family: plain.Family, Orig: plain.Orig}
	_ = info.SetHelperInfo([]byte{1})
	err := cl.Change(&info, 0)
	if !errors.Is(err, ErrNoHelper) || !errors.Is(err, unix.EOPNOTSUPP) || strings.Contains(err.Error(), "gonfct") {
		t.Errorf("private data for a conntrack without helper: %v", err)
	}
	if got := strings.Join(k.ops(), " "); got != "get" {
		t.Errorf("refused change sent %q", got)
	}
}
