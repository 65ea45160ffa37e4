package ctflow

import (
	"errors"
	"fmt"

	"github.com/gonfct/gonfct/pkg/ctnetlink"
	"github.com/gonfct/gonfct/pkg/ctnl"
	"github.com/mdlayher/netlink"
	"github.com/ti-mo/netfilter"
	"golang.org/x/sys/unix"
)

// Client does conntrack operations over one netfilter socket. It reuses
// one encoder buffer and one Flow, so it is not safe for concurrent use.
// (pkg/expect's Client is the same for expectations.)
type Client struct {
	c    *ctnl.Conn
	enc  ctnl.Encoder
	flow Flow
}

// NewClient wraps a netfilter socket.
func NewClient(c *ctnl.Conn) *Client { return &Client{c: c} }

// Conn is the client's socket.
func (cl *Client) Conn() *ctnl.Conn { return cl.c }

func (cl *Client) request(op string, typ netfilter.MessageType, family uint8, flags netlink.HeaderFlags, hints ctnl.Hints) ctnl.Request {
	return ctnl.Request{Op: op, Subsys: netfilter.NFSubsysCTNetlink, Type: typ,
		Family: netfilter.ProtoFamily(family), Flags: flags, Attrs: cl.enc.Bytes(), Hints: hints}
}

// hintNoConntrack is what ENOENT means for a request by original tuple.
const hintNoConntrack = "no conntrack has this original tuple (in this zone)"

// List streams the conntracks that pass the filter to fn, one Flow reused
// for all: fn must copy what it keeps. Memory stays flat however big the
// table is. The zero Filter lists everything.
func (cl *Client) List(f Filter, fn func(*Flow) error) error {
	return cl.ListTable(Main, f, fn)
}

// Table names one of the kernel's conntrack lists.
type Table uint8

// The lists ctnetlink dumps: the conntrack table, and two lists only
// debugging wants (conntrack -L dying, -L unconfirmed).
const (
	Main        Table = iota
	Dying             // conntracks on their way out, kept while events are pending
	Unconfirmed       // new conntracks on packets not yet past the confirmation point
)

// ListTable is List for one of the kernel's lists. The dying and
// unconfirmed lists take no kernel-side filter but the family: the rest
// of the filter is applied here.
func (cl *Client) ListTable(t Table, f Filter, fn func(*Flow) error) error {
	cl.enc.Reset()
	typ, op := netfilter.MessageType(ctnetlink.MsgGet), "list conntracks"
	var fam uint8
	switch t {
	case Dying:
		typ, op, fam = ctnetlink.MsgGetDying, "list dying conntracks", f.family()
	case Unconfirmed:
		typ, op, fam = ctnetlink.MsgGetUnconfirmed, "list unconfirmed conntracks", f.family()
	default:
		fam = f.EncodeKernel(&cl.enc)
	}
	req := cl.request(op, typ, fam, netlink.Dump, ctnl.Hints{
		unix.EOPNOTSUPP: "this kernel lacks a dump filter the request carries (CTA_FILTER needs Linux 5.8, status 5.19, zone 6.0)",
	})
	var derr error
	err := cl.c.Query(req, func(m ctnl.Message) error {
		if derr != nil {
			return nil
		}
		if err := Decode(uint8(m.Header.Family), m.Attrs, &cl.flow); err != nil {
			derr = fmt.Errorf("decode conntrack: %w", err)
			return derr
		}
		if !f.Match(&cl.flow) {
			return nil
		}
		return fn(&cl.flow)
	})
	if err != nil {
		return err
	}
	return derr
}

func (cl *Client) encodeKey(k ctnetlink.Key) {
	cl.enc.Reset()
	k.Tuple.Encode(&cl.enc, ctnetlink.AttrTupleOrig)
	if k.HasZone {
		cl.enc.Uint16(ctnetlink.AttrZone, k.Zone)
	}
	if k.ID != 0 {
		cl.enc.Uint32(ctnetlink.AttrID, k.ID)
	}
}

// Get fetches the conntrack k names into out.
func (cl *Client) Get(k ctnetlink.Key, out *Flow) error {
	cl.encodeKey(k)
	op := "get conntrack " + k.Tuple.String()
	found := false
	var derr error
	err := cl.c.Query(cl.request(op, ctnetlink.MsgGet, k.Tuple.Family(), 0, ctnl.Hints{unix.ENOENT: hintNoConntrack}),
		func(m ctnl.Message) error {
			found = true
			derr = Decode(uint8(m.Header.Family), m.Attrs, out)
			return nil
		})
	if err != nil {
		return err
	}
	if derr != nil {
		return fmt.Errorf("%s: decode: %w", op, derr)
	}
	if !found {
		return ctnl.Errorf(op, unix.ENOENT, "the kernel acknowledged but sent no conntrack")
	}
	return nil
}

// helperHints explains the kernel's answers to a conntrack carrying a
// helper (ctnetlink_create_conntrack, ctnetlink_change_helper).
func helperHints(f *Flow, create bool) ctnl.Hints {
	h := ctnl.Hints{}
	if f.Has(HasHelper) {
		name := f.Helper()
		if create {
			h[unix.EOPNOTSUPP] = fmt.Sprintf("no helper %q is registered for %s/%s in this kernel", name, ctnl.L3Name(f.Family), ctnl.ProtoName(f.Proto()))
		} else {
			h[unix.EOPNOTSUPP] = fmt.Sprintf("this conntrack has no helper (or no helper %q exists): the kernel sets a helper only when a conntrack is created", name)
			h[unix.EBUSY] = fmt.Sprintf("this conntrack has a different helper than %q: the kernel never changes a conntrack's helper after creation", name)
		}
	}
	if !create && f.Has(HasStatus) {
		if _, ok := h[unix.EBUSY]; !ok {
			h[unix.EBUSY] = "the kernel refuses to clear SEEN_REPLY or ASSURED or to change EXPECTED/CONFIRMED"
		}
	}
	return h
}

// Create adds the conntrack f, whole or not at all: if the kernel drops
// its labels (ErrLabelsDropped), the conntrack is deleted again. It fails
// with ErrExists if one with the same tuple exists (NLM_F_EXCL).
func (cl *Client) Create(f *Flow) error {
	err := cl.create(f)
	if !errors.Is(err, ErrLabelsDropped) {
		return err
	}
	if derr := cl.Delete(ctnetlink.Key{Tuple: f.Orig, Zone: f.Zone, HasZone: f.Has(HasZone)}); derr != nil {
		return fmt.Errorf("%w (and removing the conntrack again failed: %v)", err, derr)
	}
	return fmt.Errorf("%w; it was removed again: nothing was added", err)
}

// create adds f and keeps it even without its labels (restore prefers the
// conntrack to its labels); then the error is ErrLabelsDropped.
func (cl *Client) create(f *Flow) error {
	cl.enc.Reset()
	EncodeCreate(&cl.enc, f)
	hints := helperHints(f, true)
	hints[unix.EEXIST] = "a conntrack with this tuple exists"
	hints[unix.EINVAL] = "the kernel refused the conntrack's attributes (both tuples of one protocol and family, a timeout, a helper name of at most 15 bytes)"
	hints[unix.ENOMEM] = "the conntrack table is full (net.netfilter.nf_conntrack_max) or memory is short"
	if f.Has(HasMaster) {
		hints[unix.ENOENT] = "the master conntrack " + f.Master.String() + " does not exist: masters come first"
	}
	if f.Has(HasZone) {
		if _, ok := hints[unix.EOPNOTSUPP]; !ok {
			hints[unix.EOPNOTSUPP] = "this kernel lacks conntrack zones (CONFIG_NF_CONNTRACK_ZONES)"
		}
	}
	if err := cl.c.Do(cl.request("add conntrack "+f.Orig.String(), ctnetlink.MsgNew, f.Family,
		netlink.Create|netlink.Excl, hints)); err != nil {
		return err
	}
	if f.Has(HasHelper|HasHelperInfo) && f.infoLen > 0 {
		if err := cl.resendHelperInfo(f); err != nil {
			return err
		}
	}
	if f.Has(HasLabels) && f.Labels != [LabelsLen]byte{} {
		return cl.checkLabels(f)
	}
	return nil
}

// ErrLabelsDropped: the kernel created the conntrack but without its
// labels, as it does in a namespace where nothing uses conntrack labels
// (the label extension is only allocated then), without a word.
var ErrLabelsDropped = errors.New("the kernel dropped the conntrack's labels")

// HintLabels says how to make the kernel keep labels.
const HintLabels = "the kernel keeps conntrack labels only in a namespace whose ruleset uses them: load one first (e.g. nft add rule inet filter forward ct label set 0)"

func (cl *Client) checkLabels(f *Flow) error {
	var cur Flow
	if err := cl.Get(ctnetlink.Key{Tuple: f.Orig, Zone: f.Zone, HasZone: f.Has(HasZone)}, &cur); err != nil {
		return err
	}
	if cur.Labels != f.Labels {
		return &ctnl.Error{Op: "add conntrack " + f.Orig.String(), Err: ErrLabelsDropped, Hint: HintLabels}
	}
	return nil
}

func (cl *Client) resendHelperInfo(f *Flow) error {
	// ctnetlink_create_conntrack hands CTA_HELP_INFO to the helper before
	// it attaches the helper, so nfnl_cthelper_from_nlattr refuses it and
	// the kernel drops the private data without a word. Once attached, an
	// update with the same helper stores it.
	u := Flow{Family: f.Family, Orig: f.Orig, Zone: f.Zone, Set: f.Set & HasZone}
	_ = u.SetHelper(f.Helper())
	_ = u.SetHelperInfo(f.HelperInfo())
	return cl.Update(&u, 0)
}

// Update sends f as a change of an existing conntrack, as it is (see
// EncodeUpdate for what f must hold; Change fills it in).
func (cl *Client) Update(f *Flow, markMask uint32) error {
	cl.enc.Reset()
	EncodeUpdate(&cl.enc, f, markMask)
	hints := helperHints(f, false)
	hints[unix.ENOENT] = hintNoConntrack
	return cl.c.Do(cl.request("update conntrack "+f.Orig.String(), ctnetlink.MsgNew, f.Family, 0, hints))
}

// ErrNoHelper: private data was given for a conntrack without a helper,
// which keeps none; the kernel sets a helper only at creation.
var ErrNoHelper = errors.New("this conntrack has no helper, so it keeps no private data: the kernel sets a helper only at creation")

// Change changes the conntrack f.Orig (in f.Zone) to what f sets, after
// reading what the kernel wants repeated: a status must hold the current
// bits too (the kernel refuses to clear any), and private data goes with
// the conntrack's helper name (ErrNoHelper if it has none). markMask, if
// not zero, keeps the mark bits outside it.
func (cl *Client) Change(f *Flow, markMask uint32) error {
	u := *f
	if u.Has(HasStatus) || u.Has(HasHelperInfo) && !u.Has(HasHelper) {
		var cur Flow
		if err := cl.Get(ctnetlink.Key{Tuple: u.Orig, Zone: u.Zone, HasZone: u.Has(HasZone)}, &cur); err != nil {
			return err
		}
		if err := merge(&u, &cur); err != nil {
			return err
		}
	}
	return cl.Update(&u, markMask)
}

// merge makes the update u of the conntrack cur what the kernel takes:
// the current status bits kept, the helper named with its private data.
func merge(u, cur *Flow) error {
	if u.Has(HasStatus) {
		u.Status = cur.Status | u.Status&Settable
	}
	if u.Has(HasHelperInfo) && !u.Has(HasHelper) {
		if !cur.Has(HasHelper) {
			return &ctnl.Error{Op: "update conntrack " + u.Orig.String(), Err: unix.EOPNOTSUPP, Kind: ErrNoHelper, Hint: ErrNoHelper.Error()}
		}
		_ = u.SetHelper(cur.Helper())
	}
	return nil
}

// Delete removes the conntrack k names.
func (cl *Client) Delete(k ctnetlink.Key) error {
	cl.encodeKey(k)
	return cl.c.Do(cl.request("delete conntrack "+k.Tuple.String(), ctnetlink.MsgDelete, k.Tuple.Family(), 0,
		ctnl.Hints{unix.ENOENT: hintNoConntrack}))
}

// Flush empties the conntrack table of the socket's network namespace.
func (cl *Client) Flush() error {
	cl.enc.Reset()
	return cl.c.Do(cl.request("flush conntracks", ctnetlink.MsgDelete, 0, 0, nil))
}

// DeleteMatching deletes every conntrack that passes the filter: it lists
// them (with the kernel-side part of the filter) on this socket and deletes
// each by tuple and id on del, a second socket, as it goes. It returns how
// many it deleted; entries that vanished meanwhile are not counted.
func (cl *Client) DeleteMatching(f Filter, del *Client) (int, error) {
	n := 0
	err := cl.List(f, func(fl *Flow) error {
		err := del.Delete(ctnetlink.Key{Tuple: fl.Orig, Zone: fl.Zone, HasZone: fl.Has(HasZone), ID: fl.ID})
		if errors.Is(err, ctnl.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		n++
		return nil
	})
	return n, err
}

// UpdateMatching changes every conntrack that passes the filter as
// Change changes one (conntrack -U with filters): it lists them on this
// socket and updates each on upd, a second socket, with the changes in c
// (its tuple, family and zone are each conntrack's own). It returns how
// many it changed; conntracks that vanished meanwhile are not counted.
func (cl *Client) UpdateMatching(f Filter, c *Flow, markMask uint32, upd *Client) (int, error) {
	n := 0
	err := cl.List(f, func(fl *Flow) error {
		u := *c
		u.Family, u.Orig, u.Set = fl.Family, fl.Orig, u.Set&^HasZone
		if fl.Has(HasZone) {
			u.Zone, u.Set = fl.Zone, u.Set|HasZone
		}
		err := upd.Change(&u, markMask)
		if errors.Is(err, ctnl.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		n++
		return nil
	})
	return n, err
}

// Count is the number of conntracks in the table (IPCTNL_MSG_CT_GET_STATS).
func (cl *Client) Count() (uint32, error) {
	cl.enc.Reset()
	var n uint32
	err := cl.c.Query(cl.request("count conntracks", ctnetlink.MsgGetStats, 0, 0, nil), func(m ctnl.Message) error {
		s := ctnl.NewScanner(m.Attrs)
		for s.Next() {
			if s.Type() == ctnetlink.AttrStatsGlobalEntries {
				n = s.Uint32()
			}
		}
		return s.Err()
	})
	return n, err
}
