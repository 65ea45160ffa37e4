package expect

import (
	"net/netip"

	"github.com/gonfct/gonfct/pkg/ctnl"
	"github.com/mdlayher/netlink"
	"github.com/ti-mo/netfilter"
	"golang.org/x/sys/unix"
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
func (f *Filter) MasterTuple() (ctnl.Tuple, bool) {
	if !f.MasterSrc.IsValid() || !f.MasterDst.IsValid() || f.MasterProto == 0 {
		return ctnl.Tuple{}, false
	}
	if ctnl.HasPorts(f.MasterProto) && (!f.MasterSrcPort.Set || !f.MasterDstPort.Set) {
		return ctnl.Tuple{}, false
	}
	return ctnl.Tuple{Src: f.MasterSrc, Dst: f.MasterDst, Proto: f.MasterProto,
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
func masterKey(t ctnl.Tuple) ctnl.Tuple {
	t.Zone, t.HasZone = 0, false
	return t
}

// zoneMasters walks the conntrack table and returns the original tuples of
// the conntracks in zone that carry a helper: the possible masters of
// expectations in that zone. The request carries CTA_ZONE, which kernels
// since 6.8 use to filter the dump; older ones ignore it, and the zone is
// checked here in any case.
func zoneMasters(c *ctnl.Conn, family uint8, zone uint16) (map[ctnl.Tuple]struct{}, error) {
	enc := ctnl.NewEncoder(nil)
	enc.Uint16(ctAttrZone, zone)
	masters := map[ctnl.Tuple]struct{}{}
	err := c.Query(ctnl.Request{Op: "list conntracks of zone", Subsys: netfilter.NFSubsysCTNetlink, Type: ctMsgGet,
		Family: netfilter.ProtoFamily(family), Flags: netlink.Dump, Attrs: enc.Bytes()}, func(m ctnl.Message) error {
		var (
			orig            ctnl.Tuple
			z               uint16
			hasZone, helper bool
			err             error
		)
		s := ctnl.NewScanner(m.Attrs)
		for s.Next() {
			switch s.Type() {
			case ctAttrOrig:
				if orig, err = ctnl.DecodeTuple(s.Data()); err != nil {
					return err
				}
			case ctAttrZone:
				z, hasZone = s.Uint16(), true
			case ctAttrHelp:
				helper = true
			}
		}
		if !hasZone && orig.HasZone {
			z = orig.Zone
		}
		if helper && z == zone {
			masters[masterKey(orig)] = struct{}{}
		}
		return s.Err()
	})
	return masters, err
}

// masterInZone asks the kernel whether the master tuple t exists in zone.
func masterInZone(c *ctnl.Conn, t ctnl.Tuple, zone uint16) (bool, error) {
	enc := ctnl.NewEncoder(nil)
	t = masterKey(t)
	t.Encode(enc, ctAttrOrig)
	enc.Uint16(ctAttrZone, zone)
	found := false
	err := c.Query(ctnl.Request{Op: "look up master conntrack", Subsys: netfilter.NFSubsysCTNetlink, Type: ctMsgGet,
		Family: netfilter.ProtoFamily(t.Family()), Attrs: enc.Bytes()}, func(ctnl.Message) error {
		found = true
		return nil
	})
	if ctnl.Errno(err) == unix.ENOENT {
		return false, nil
	}
	return found, err
}

// List streams the expectations f selects to fn, pushing what it can to
// the kernel (family, a fully given master) and matching the rest as the
// dump streams by. The *Expectation is reused: copy it to keep it.
func List(c *ctnl.Conn, f Filter, fn func(*Expectation) error) error {
	opts := ListOptions{Family: f.Family}
	if m, ok := f.MasterTuple(); ok {
		opts.Master = &m
		opts.Zone, opts.HasZone = f.Zone, f.HasZone
	}
	var masters map[ctnl.Tuple]struct{}
	if f.HasZone && opts.Master == nil {
		var err error
		if masters, err = zoneMasters(c, f.Family, f.Zone); err != nil {
			return err
		}
		if len(masters) == 0 {
			return nil
		}
	}
	err := Dump(c, opts, func(e *Expectation) error {
		if !f.Match(e) {
			return nil
		}
		if masters != nil {
			if _, ok := masters[masterKey(e.Master)]; !ok {
				return nil
			}
		}
		return fn(e)
	})
	if opts.Master != nil && ctnl.Errno(err) == unix.ENOENT {
		// The master is gone or never was: it has no expectations.
		return nil
	}
	return err
}
