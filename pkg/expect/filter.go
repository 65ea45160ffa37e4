package expect

import (
	"errors"
	"net/netip"

	"github.com/gonfct/gonfct/pkg/ctnetlink"
	"github.com/gonfct/gonfct/pkg/ctnl"
	"github.com/mdlayher/netlink"
	"github.com/ti-mo/netfilter"
)

// Port is an optional port to match.
type Port struct {
	Set  bool
	Port uint16
}

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

	// Expected connection.
	Src, Dst         netip.Addr
	SrcPort, DstPort Port
	// Master connection (original direction).
	MasterSrc, MasterDst         netip.Addr
	MasterSrcPort, MasterDstPort Port
	MasterProto                  uint8
}

// MasterTuple is the master tuple when the filter gives all of it, so the
// kernel can dump that master's expectations alone.
func (f *Filter) MasterTuple() (ctnetlink.Tuple, bool) {
	if !f.MasterSrc.IsValid() || !f.MasterDst.IsValid() || f.MasterProto == 0 {
		return ctnetlink.Tuple{}, false
	}
	if ctnetlink.Layer4Of(f.MasterProto) == ctnetlink.Ports && (!f.MasterSrcPort.Set || !f.MasterDstPort.Set) {
		return ctnetlink.Tuple{}, false
	}
	return ctnetlink.Tuple{Src: f.MasterSrc, Dst: f.MasterDst, Proto: f.MasterProto,
		SrcPort: f.MasterSrcPort.Port, DstPort: f.MasterDstPort.Port}, true
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
		f.Src.IsValid() && e.Tuple.Src != f.Src,
		f.Dst.IsValid() && e.Tuple.Dst != f.Dst,
		f.SrcPort.Set && e.Tuple.SrcPort != f.SrcPort.Port,
		f.DstPort.Set && e.Tuple.DstPort != f.DstPort.Port,
		f.MasterProto != 0 && e.Master.Proto != f.MasterProto,
		f.MasterSrc.IsValid() && e.Master.Src != f.MasterSrc,
		f.MasterDst.IsValid() && e.Master.Dst != f.MasterDst,
		f.MasterSrcPort.Set && e.Master.SrcPort != f.MasterSrcPort.Port,
		f.MasterDstPort.Set && e.Master.DstPort != f.MasterDstPort.Port:
		return false
	}
	return true
}

// masterKey is a master tuple as a map key (zone apart).
func masterKey(t ctnetlink.Tuple) ctnetlink.Tuple {
	t.Zone, t.HasZone = 0, false
	return t
}

// zoneMasters walks the conntrack table and returns the original tuples of
// the conntracks in zone that carry a helper: the possible masters of
// expectations in that zone. The request carries CTA_ZONE, which kernels
// since 6.8 use to filter the dump; older ones ignore it, and the zone is
// checked here in any case.
func zoneMasters(c *ctnl.Conn, family uint8, zone uint16) ([]ctnetlink.Tuple, error) {
	enc := ctnl.NewEncoder(nil)
	enc.Uint16(ctnetlink.AttrZone, zone)
	var masters []ctnetlink.Tuple
	err := c.Query(ctnl.Request{Op: "list conntracks of zone", Subsys: netfilter.NFSubsysCTNetlink, Type: ctnetlink.MsgGet,
		Family: netfilter.ProtoFamily(family), Flags: netlink.Dump, Attrs: enc.Bytes()}, func(m ctnl.Message) error {
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
			masters = append(masters, masterKey(orig))
		}
		return s.Err()
	})
	return masters, err
}

// inZone asks the kernel whether the expectation e is in zone: a lookup
// of its tuple in that zone that finds the same ID.
func inZone(c *ctnl.Conn, e *Expectation, zone uint16) (bool, error) {
	_, err := Get(c, e.Tuple, zone, true, e.ID)
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
func List(c *ctnl.Conn, f Filter, fn func(*Expectation) error) error {
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
		return ignoreNoMaster(Dump(c, opts, match))
	}
	if !f.HasZone {
		return Dump(c, opts, match)
	}
	masters, err := zoneMasters(c, f.Family, f.Zone)
	if err != nil {
		return err
	}
	for i := range masters {
		m := &masters[i]
		if f.MasterProto != 0 && m.Proto != f.MasterProto ||
			f.MasterSrc.IsValid() && m.Src != f.MasterSrc || f.MasterDst.IsValid() && m.Dst != f.MasterDst {
			continue
		}
		opts.Master = m
		opts.Zone, opts.HasZone = f.Zone, true
		if err := ignoreNoMaster(Dump(c, opts, match)); err != nil {
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
