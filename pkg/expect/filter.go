package expect

import (
	"errors"
	"net/netip"

	"github.com/gonfct/gonfct/pkg/ctnetlink"
	"github.com/gonfct/gonfct/pkg/ctnl"
	"github.com/mdlayher/netlink"
	"github.com/ti-mo/netfilter"
)

// Filter selects expectations. The zero Filter selects all. Family and a
// fully given master are applied by the kernel; the rest in user space
// over the streamed dump (or the event stream).
type Filter struct {
	Family uint8 // AF_INET or AF_INET6
	Proto  uint8 // layer-4 protocol of the expected connection
	Helper string
	Class  uint32
	// HasClass makes Class count (class 0 is a real class).
	HasClass bool
	// Zone needs the masters' zones, which dumps of expectations lack:
	// the filter looks them up in the conntrack table.
	Zone    uint16
	HasZone bool

	// Expected connection: addresses or prefixes, ports.
	Src, Dst         netip.Prefix
	SrcPort, DstPort ctnetlink.Port
	// Master connection (original direction).
	MasterSrc, MasterDst         netip.Prefix
	MasterSrcPort, MasterDstPort ctnetlink.Port
	MasterProto                  uint8

	// ID, if not zero, selects the expectation with this CTA_EXPECT_ID.
	ID uint32
}

// MasterTuple is the master tuple when the filter gives all of it, so the
// kernel can dump that master's expectations alone.
func (f *Filter) MasterTuple() (ctnetlink.Tuple, bool) {
	if !f.MasterSrc.IsSingleIP() || !f.MasterDst.IsSingleIP() || f.MasterProto == 0 {
		return ctnetlink.Tuple{}, false
	}
	if ctnetlink.Layer4Of(f.MasterProto) == ctnetlink.Ports && (!f.MasterSrcPort.Set || !f.MasterDstPort.Set) {
		return ctnetlink.Tuple{}, false
	}
	return ctnetlink.Tuple{Src: f.MasterSrc.Addr(), Dst: f.MasterDst.Addr(), Proto: f.MasterProto,
		SrcPort: f.MasterSrcPort.N, DstPort: f.MasterDstPort.N}, true
}

// IsZero reports whether the filter selects everything.
func (f *Filter) IsZero() bool { return *f == Filter{} }

// Match applies everything but the zone.
func (f *Filter) Match(e *Expectation) bool {
	switch {
	case f.Family != 0 && e.FamilyOf() != f.Family,
		f.Proto != 0 && e.Tuple.Proto != f.Proto,
		f.Helper != "" && e.Helper != f.Helper,
		f.HasClass && e.Class != f.Class,
		!matchAddr(f.Src, e.Tuple.Src),
		!matchAddr(f.Dst, e.Tuple.Dst),
		!f.SrcPort.Matches(e.Tuple.SrcPort),
		!f.DstPort.Matches(e.Tuple.DstPort),
		f.MasterProto != 0 && e.Master.Proto != f.MasterProto,
		!matchAddr(f.MasterSrc, e.Master.Src),
		!matchAddr(f.MasterDst, e.Master.Dst),
		!f.MasterSrcPort.Matches(e.Master.SrcPort),
		!f.MasterDstPort.Matches(e.Master.DstPort),
		f.ID != 0 && e.ID != f.ID:
		return false
	}
	return true
}

func matchAddr(p netip.Prefix, a netip.Addr) bool { return !p.IsValid() || p.Contains(a) }

// zoneMasters walks the conntrack table and returns the original tuples of
// the conntracks in zone that carry a helper: the possible masters of
// expectations in that zone. The request carries CTA_ZONE, which kernels
// since 6.8 use to filter the dump; older ones ignore it, and the zone is
// checked here in any case.
func (cl *Client) zoneMasters(family uint8, zone uint16) ([]ctnetlink.Tuple, error) {
	cl.enc.Reset()
	cl.enc.Uint16(ctnetlink.AttrZone, zone)
	var masters []ctnetlink.Tuple
	req := cl.request("list conntracks of zone", ctnetlink.MsgGet, family, netlink.Dump, nil)
	req.Subsys = netfilter.NFSubsysCTNetlink
	err := cl.c.Query(req, func(m ctnl.Message) error {
		var (
			orig            ctnetlink.Tuple
			z               uint16
			hasZone, helper bool
			err             error
		)
		s := ctnl.NewScanner(m.Attrs)
		for s.Next() {
			switch s.Type() {
			case ctnetlink.AttrTupleOrig:
				if orig, err = ctnetlink.DecodeTuple(s.Data()); err != nil {
					return err
				}
			case ctnetlink.AttrZone:
				z, hasZone = s.Uint16(), true
			case ctnetlink.AttrHelp:
				helper = true
			}
		}
		if !hasZone && orig.HasZone {
			z = orig.Zone
		}
		if helper && z == zone {
			masters = append(masters, orig.WithoutZone())
		}
		return s.Err()
	})
	return masters, err
}

// inZone asks the kernel whether the expectation e is in zone: a lookup
// of its tuple in that zone that finds the same ID.
func (cl *Client) inZone(e *Expectation, zone uint16) (bool, error) {
	var found Expectation
	err := cl.Get(ctnetlink.Key{Tuple: e.Tuple, Zone: zone, HasZone: true, ID: e.ID}, &found)
	if errors.Is(err, ctnl.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// List streams the expectations f selects to fn, pushing what it can to
// the kernel (family, a fully given master) and matching the rest as the
// dump streams by. The *Expectation is reused: copy it to keep it.
//
// A zone is known to the kernel only through the masters: List finds the
// zone's conntracks with a helper and dumps their expectations one master
// at a time, which is exact even when a tuple exists in several zones.
func (cl *Client) List(f Filter, fn func(*Expectation) error) error {
	match := func(e *Expectation) error {
		if !f.Match(e) {
			return nil
		}
		return fn(e)
	}
	opts := ListOptions{Family: f.Family}
	if m, ok := f.MasterTuple(); ok {
		opts.Master = &m
		opts.Zone, opts.HasZone = f.Zone, f.HasZone
		return ignoreNoMaster(cl.Dump(opts, match))
	}
	if !f.HasZone {
		return cl.Dump(opts, match)
	}
	masters, err := cl.zoneMasters(f.Family, f.Zone)
	if err != nil {
		return err
	}
	for i := range masters {
		m := &masters[i]
		if f.MasterProto != 0 && m.Proto != f.MasterProto || !matchAddr(f.MasterSrc, m.Src) || !matchAddr(f.MasterDst, m.Dst) {
			continue
		}
		opts.Master = m
		opts.Zone, opts.HasZone = f.Zone, true
		if err := ignoreNoMaster(cl.Dump(opts, match)); err != nil {
			return err
		}
	}
	return nil
}

// ignoreNoMaster: a master that is gone (or never was) has no
// expectations.
func ignoreNoMaster(err error) error {
	if errors.Is(err, ctnl.ErrNotFound) {
		return nil
	}
	return err
}
