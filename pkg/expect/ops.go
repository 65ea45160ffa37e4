package expect

import (
	"errors"
	"fmt"

	"github.com/gonfct/gonfct/pkg/ctnetlink"
	"github.com/gonfct/gonfct/pkg/ctnl"
	"github.com/mdlayher/netlink"
	"github.com/ti-mo/netfilter"
	"golang.org/x/sys/unix"
)

// Hints for the errnos whose meaning for expectations users trip over.
var (
	hintsCreate = ctnl.Hints{
		unix.ENOENT:     "the master conntrack does not exist: check --master (and --zone) against `conntrack -L`",
		unix.EOPNOTSUPP: "master conntrack has no helper; inject it with `gonfct ct add --helper`",
		unix.EEXIST:     "an expectation with this tuple exists already",
		unix.EBUSY:      "the tuple clashes with an expectation of another master",
		unix.EINVAL:     "invalid expectation: --class above the helper's class count, unknown --expectfn, or mismatched families",
		unix.EMFILE:     "the helper's expectation limit is reached and none could be evicted",
		unix.ENOMEM:     "expectation table full (net.netfilter.nf_conntrack_expect_max)",
		unix.ETIME:      "the expectation is expiring",
	}
	hintsLookup = ctnl.Hints{
		unix.ENOENT: "no such expectation: `gonfct expect list` shows the table",
	}
)

func family(f uint8) netfilter.ProtoFamily { return netfilter.ProtoFamily(f) }

// ListOptions narrow a dump on the kernel side.
type ListOptions struct {
	// Family, if set, makes the kernel dump only AF_INET or AF_INET6.
	Family uint8
	// Master, if set, makes the kernel dump only this master's
	// expectations (in Zone when HasZone).
	Master  *ctnetlink.Tuple
	Zone    uint16
	HasZone bool
}

// Dump streams the expectation table: fn sees each expectation as it is
// decoded, in a value reused for the next one (copy it to keep it), so a
// table of any size is listed in constant memory. An error from fn stops
// the walk and is returned once the answer is drained.
func Dump(c *ctnl.Conn, opts ListOptions, fn func(*Expectation) error) error {
	var (
		enc *ctnl.Encoder
		req = ctnl.Request{Op: "list expectations", Subsys: netfilter.NFSubsysCTNetlinkExp, Type: ctnetlink.MsgExpGet,
			Family: family(opts.Family), Flags: netlink.Dump}
	)
	if opts.Master != nil {
		enc = ctnl.NewEncoder(nil)
		m := *opts.Master
		m.HasZone = false
		m.Encode(enc, ctnetlink.AttrExpectMaster)
		if opts.HasZone {
			enc.Uint16(ctnetlink.AttrExpectZone, opts.Zone)
		}
		req.Attrs = enc.Bytes()
		req.Family = family(m.Family())
		req.Hints = ctnl.Hints{unix.ENOENT: "no such master conntrack"}
		// For a master without a helper the kernel starts no dump and,
		// unless asked for an acknowledgement, answers nothing at all.
		req.Flags |= netlink.Acknowledge
	}
	var (
		d Decoder
		e Expectation
	)
	return c.Query(req, func(m ctnl.Message) error {
		if err := d.Decode(m.Attrs, &e); err != nil {
			return err
		}
		e.Family = uint8(m.Header.Family)
		return fn(&e)
	})
}

// Get fetches the expectation whose expected tuple is t (in zone, when
// HasZone; narrowed to id when non-zero).
func Get(c *ctnl.Conn, t ctnetlink.Tuple, zone uint16, hasZone bool, id uint32) (Expectation, error) {
	enc := ctnl.NewEncoder(nil)
	encodeKey(enc, t, zone, hasZone, id)
	var (
		e     Expectation
		found bool
		d     Decoder
	)
	err := c.Query(ctnl.Request{Op: "get expectation " + t.String(), Subsys: netfilter.NFSubsysCTNetlinkExp, Type: ctnetlink.MsgExpGet,
		Family: family(t.Family()), Attrs: enc.Bytes(), Hints: hintsLookup}, func(m ctnl.Message) error {
		found = true
		if err := d.Decode(m.Attrs, &e); err != nil {
			return err
		}
		e.Family = uint8(m.Header.Family)
		return nil
	})
	if err == nil && !found {
		err = ctnl.Errorf("get expectation "+t.String(), unix.ENOENT, "%s", hintsLookup[unix.ENOENT])
	}
	return e, err
}

func encodeKey(enc *ctnl.Encoder, t ctnetlink.Tuple, zone uint16, hasZone bool, id uint32) {
	t.HasZone = false
	t.Encode(enc, ctnetlink.AttrExpectTuple)
	if id != 0 {
		enc.Uint32(ctnetlink.AttrExpectID, id)
	}
	if hasZone {
		enc.Uint16(ctnetlink.AttrExpectZone, zone)
	}
}

// Create adds an expectation (IPCTNL_MSG_EXP_NEW with NLM_F_CREATE|EXCL).
// It checks what the kernel would refuse with a bare errno first.
func Create(c *ctnl.Conn, e *Expectation) error {
	if err := e.Validate(); err != nil {
		return err
	}
	enc := ctnl.NewEncoder(make([]byte, 0, 256))
	e.Encode(enc)
	return c.Do(ctnl.Request{Op: "add expectation " + e.Tuple.String(), Subsys: netfilter.NFSubsysCTNetlinkExp, Type: ctnetlink.MsgExpNew,
		Family: family(e.FamilyOf()), Flags: netlink.Create | netlink.Excl, Attrs: enc.Bytes(), Hints: hintsCreate})
}

// Validate checks an expectation for create: tuples present and of one
// family, protocol of the master's, mask destination exact.
func (e *Expectation) Validate() error {
	if !e.Master.Src.IsValid() || !e.Master.Dst.IsValid() {
		return errors.New("expectation needs a master tuple")
	}
	if !e.Tuple.Src.IsValid() || !e.Tuple.Dst.IsValid() {
		return errors.New("expectation needs an expected tuple")
	}
	if e.Tuple.Family() != e.Master.Family() {
		return fmt.Errorf("expected tuple is %s but master is %s: both must be one family",
			ctnl.L3Name(e.Tuple.Family()), ctnl.L3Name(e.Master.Family()))
	}
	if e.Mask.Src.IsValid() && e.Mask.Family() != e.Tuple.Family() {
		return fmt.Errorf("mask is %s but the tuple is %s", ctnl.L3Name(e.Mask.Family()), ctnl.L3Name(e.Tuple.Family()))
	}
	if e.Mask.Dst.IsValid() {
		full := ExactMask(e.Tuple)
		if e.Mask.Dst != full.Dst || (ctnetlink.Layer4Of(e.Tuple.Proto) == ctnetlink.Ports && e.Mask.DstPort != 0xffff) {
			return errors.New("the kernel matches the expected destination exactly: the mask's destination must be all ones (" +
				full.Dst.String() + ", port 65535)")
		}
	}
	if e.Flags&^(Permanent|Inactive|Userspace) != 0 {
		return fmt.Errorf("unknown expectation flags %#x", uint32(e.Flags))
	}
	if e.NAT.Set && e.NAT.Dir > 1 {
		return fmt.Errorf("NAT direction %d: want 0 (original) or 1 (reply)", e.NAT.Dir)
	}
	return nil
}

// Delete removes the expectation whose expected tuple is t (in zone, when
// HasZone; only if its ID is id, when non-zero).
func Delete(c *ctnl.Conn, t ctnetlink.Tuple, zone uint16, hasZone bool, id uint32) error {
	enc := ctnl.NewEncoder(nil)
	encodeKey(enc, t, zone, hasZone, id)
	return c.Do(ctnl.Request{Op: "delete expectation " + t.String(), Subsys: netfilter.NFSubsysCTNetlinkExp, Type: ctnetlink.MsgExpDelete,
		Family: family(t.Family()), Attrs: enc.Bytes(), Hints: hintsLookup})
}

// DeleteByHelper removes, in the kernel in one request, every expectation
// whose master uses the named helper.
func DeleteByHelper(c *ctnl.Conn, helper string) error {
	enc := ctnl.NewEncoder(nil)
	enc.String(ctnetlink.AttrExpectHelpName, helper)
	return c.Do(ctnl.Request{Op: "delete expectations of helper " + helper, Subsys: netfilter.NFSubsysCTNetlinkExp,
		Type: ctnetlink.MsgExpDelete, Attrs: enc.Bytes()})
}

// Flush removes every expectation in the namespace (IPCTNL_MSG_EXP_DELETE
// without attributes).
func Flush(c *ctnl.Conn) error {
	return c.Do(ctnl.Request{Op: "flush expectations", Subsys: netfilter.NFSubsysCTNetlinkExp, Type: ctnetlink.MsgExpDelete})
}

// CPUStats are one CPU's expectation counters (conntrack -S expect).
type CPUStats struct {
	CPU    uint16 `json:"cpu"`
	New    uint32 `json:"expect_new"`
	Create uint32 `json:"expect_create"`
	Delete uint32 `json:"expect_delete"`
}

// Stats reads the per-CPU expectation counters
// (IPCTNL_MSG_EXP_GET_STATS_CPU).
func Stats(c *ctnl.Conn, fn func(CPUStats) error) error {
	return c.Query(ctnl.Request{Op: "read expectation statistics", Subsys: netfilter.NFSubsysCTNetlinkExp,
		Type: ctnetlink.MsgExpGetStatsCPU, Flags: netlink.Dump}, func(m ctnl.Message) error {
		st := CPUStats{CPU: m.Header.ResourceID}
		s := ctnl.NewScanner(m.Attrs)
		for s.Next() {
			switch s.Type() {
			case ctnetlink.AttrStatsExpNew:
				st.New = s.Uint32()
			case ctnetlink.AttrStatsExpCreate:
				st.Create = s.Uint32()
			case ctnetlink.AttrStatsExpDelete:
				st.Delete = s.Uint32()
			}
		}
		if err := s.Err(); err != nil {
			return err
		}
		return fn(st)
	})
}

// SetTimeout sets the timeout of an existing expectation: the kernel takes
// a new one's timeout from the master helper's policy, and changes nothing
// else in place. It sends IPCTNL_MSG_EXP_NEW without NLM_F_CREATE, which
// ctnetlink_change_expect answers by setting the timeout.
func SetTimeout(c *ctnl.Conn, e *Expectation) error {
	u := Expectation{Family: e.Family, Tuple: e.Tuple, Mask: e.Mask, Master: e.Master,
		Timeout: e.Timeout, Zone: e.Zone, HasZone: e.HasZone}
	enc := ctnl.NewEncoder(make([]byte, 0, 256))
	u.Encode(enc)
	return c.Do(ctnl.Request{Op: "set expectation timeout " + e.Tuple.String(), Subsys: netfilter.NFSubsysCTNetlinkExp,
		Type: 0, Family: netfilter.ProtoFamily(e.FamilyOf()), Attrs: enc.Bytes(),
		Hints: ctnl.Hints{unix.ETIME: "the expectation is expiring"}})
}
