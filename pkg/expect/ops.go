package expect

import (
	"errors"
	"strconv"

	"github.com/gonfct/gonfct/pkg/ctnetlink"
	"github.com/gonfct/gonfct/pkg/ctnl"
	"github.com/mdlayher/netlink"
	"github.com/ti-mo/netfilter"
	"golang.org/x/sys/unix"
)

// What the kernel's errnos mean for expectations (nf_conntrack_netlink.c).
var (
	hintsCreate = ctnl.Hints{
		unix.ENOENT:     "the master conntrack does not exist (in this zone)",
		unix.EOPNOTSUPP: "the master conntrack has no helper",
		unix.EEXIST:     "an expectation with this tuple exists already",
		unix.EBUSY:      "the tuple clashes with an expectation of another master",
		unix.EINVAL:     "invalid expectation: a class above the helper's class count, an unknown expectfn, or mismatched families",
		unix.EMFILE:     "the helper's expectation limit is reached and none could be evicted",
		unix.ENOMEM:     "expectation table full (net.netfilter.nf_conntrack_expect_max)",
		unix.ETIME:      "the expectation is expiring",
	}
	hintsLookup = ctnl.Hints{unix.ENOENT: "no such expectation"}
)

// Client does expectation operations over one netfilter socket. It reuses
// one encoder buffer, one decoder and one Expectation, so it is not safe
// for concurrent use. (pkg/ctflow's Client is the same for conntracks.)
type Client struct {
	c   *ctnl.Conn
	enc ctnl.Encoder
	dec Decoder
	exp Expectation
}

// NewClient wraps a netfilter socket.
func NewClient(c *ctnl.Conn) *Client { return &Client{c: c} }

// Conn is the client's socket.
func (cl *Client) Conn() *ctnl.Conn { return cl.c }

func (cl *Client) request(op string, typ netfilter.MessageType, family uint8, flags netlink.HeaderFlags, hints ctnl.Hints) ctnl.Request {
	return ctnl.Request{Op: op, Subsys: netfilter.NFSubsysCTNetlinkExp, Type: typ,
		Family: netfilter.ProtoFamily(family), Flags: flags, Attrs: cl.enc.Bytes(), Hints: hints}
}

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
func (cl *Client) Dump(opts ListOptions, fn func(*Expectation) error) error {
	cl.enc.Reset()
	req := cl.request("list expectations", ctnetlink.MsgExpGet, opts.Family, netlink.Dump, nil)
	if opts.Master != nil {
		m := *opts.Master
		m.HasZone = false
		m.Encode(&cl.enc, ctnetlink.AttrExpectMaster)
		if opts.HasZone {
			cl.enc.Uint16(ctnetlink.AttrExpectZone, opts.Zone)
		}
		req = cl.request("list expectations", ctnetlink.MsgExpGet, m.Family(),
			// For a master without a helper the kernel starts no dump and,
			// unless asked for an acknowledgement, answers nothing at all.
			netlink.Dump|netlink.Acknowledge, ctnl.Hints{unix.ENOENT: "no such master conntrack"})
	}
	return cl.c.Query(req, func(m ctnl.Message) error {
		if err := cl.dec.Decode(m.Attrs, &cl.exp); err != nil {
			return err
		}
		cl.exp.Family = uint8(m.Header.Family)
		return fn(&cl.exp)
	})
}

func (cl *Client) encodeKey(k ctnetlink.Key) {
	cl.enc.Reset()
	t := k.Tuple
	t.HasZone = false
	t.Encode(&cl.enc, ctnetlink.AttrExpectTuple)
	if k.ID != 0 {
		cl.enc.Uint32(ctnetlink.AttrExpectID, k.ID)
	}
	if k.HasZone {
		cl.enc.Uint16(ctnetlink.AttrExpectZone, k.Zone)
	}
}

// Get fetches the expectation k names into out.
func (cl *Client) Get(k ctnetlink.Key, out *Expectation) error {
	cl.encodeKey(k)
	op := "get expectation " + k.Tuple.String()
	found := false
	err := cl.c.Query(cl.request(op, ctnetlink.MsgExpGet, k.Tuple.Family(), 0, hintsLookup), func(m ctnl.Message) error {
		found = true
		if err := cl.dec.Decode(m.Attrs, out); err != nil {
			return err
		}
		out.Family = uint8(m.Header.Family)
		return nil
	})
	if err == nil && !found {
		err = ctnl.Errorf(op, unix.ENOENT, "%s", hintsLookup[unix.ENOENT])
	}
	return err
}

// Create adds an expectation (IPCTNL_MSG_EXP_NEW with NLM_F_CREATE|EXCL).
// It checks what the kernel would refuse with a bare errno first.
func (cl *Client) Create(e *Expectation) error {
	if err := e.Validate(); err != nil {
		return err
	}
	cl.enc.Reset()
	e.Encode(&cl.enc)
	return cl.c.Do(cl.request("add expectation "+e.Tuple.String(), ctnetlink.MsgExpNew, e.FamilyOf(),
		netlink.Create|netlink.Excl, hintsCreate))
}

// SetTimeout sets the timeout of an existing expectation: the kernel takes
// a new one's timeout from the master helper's policy, and changes nothing
// else in place. It sends IPCTNL_MSG_EXP_NEW without NLM_F_CREATE, which
// ctnetlink_change_expect answers by setting the timeout.
func (cl *Client) SetTimeout(e *Expectation) error {
	u := Expectation{Family: e.Family, Tuple: e.Tuple, Mask: e.Mask, Master: e.Master,
		Timeout: e.Timeout, Zone: e.Zone, HasZone: e.HasZone}
	cl.enc.Reset()
	u.Encode(&cl.enc)
	return cl.c.Do(cl.request("set expectation timeout "+e.Tuple.String(), ctnetlink.MsgExpNew, e.FamilyOf(), 0,
		ctnl.Hints{unix.ETIME: "the expectation is expiring"}))
}

// Delete removes the expectation k names.
func (cl *Client) Delete(k ctnetlink.Key) error {
	cl.encodeKey(k)
	return cl.c.Do(cl.request("delete expectation "+k.Tuple.String(), ctnetlink.MsgExpDelete, k.Tuple.Family(), 0, hintsLookup))
}

// DeleteByHelper removes, in the kernel in one request, every expectation
// whose master uses the named helper.
func (cl *Client) DeleteByHelper(helper string) error {
	cl.enc.Reset()
	cl.enc.String(ctnetlink.AttrExpectHelpName, helper)
	return cl.c.Do(cl.request("delete expectations of helper "+helper, ctnetlink.MsgExpDelete, 0, 0, nil))
}

// Flush removes every expectation in the namespace (IPCTNL_MSG_EXP_DELETE
// without attributes).
func (cl *Client) Flush() error {
	cl.enc.Reset()
	return cl.c.Do(cl.request("flush expectations", ctnetlink.MsgExpDelete, 0, 0, nil))
}

// DeleteMatching deletes every expectation that passes the filter and
// returns how many. A filter of a helper name alone is one request to the
// kernel (counted first, as the kernel does not say). Otherwise it lists
// them on this socket and deletes each by tuple and ID on del, a second
// socket, as it goes; entries that vanished meanwhile are not counted.
func (cl *Client) DeleteMatching(f Filter, del *Client) (int, error) {
	if f.Helper != "" && f == (Filter{Helper: f.Helper}) {
		n := 0
		if err := cl.List(f, func(*Expectation) error { n++; return nil }); err != nil {
			return 0, err
		}
		return n, cl.DeleteByHelper(f.Helper)
	}
	n := 0
	err := cl.List(f, func(e *Expectation) error {
		err := del.Delete(ctnetlink.Key{Tuple: e.Tuple, Zone: f.Zone, HasZone: f.HasZone, ID: e.ID})
		if errors.Is(err, ctnl.ErrNotFound) {
			return nil // expired or deleted meanwhile
		}
		if err != nil {
			return err
		}
		n++
		return nil
	})
	if err == nil && n == 0 && f.ID != 0 {
		err = ctnl.Errorf("delete expectation with ID "+strconv.FormatUint(uint64(f.ID), 10), unix.ENOENT, "%s", hintsLookup[unix.ENOENT])
	}
	return n, err
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
func (cl *Client) Stats(fn func(CPUStats) error) error {
	cl.enc.Reset()
	return cl.c.Query(cl.request("read expectation statistics", ctnetlink.MsgExpGetStatsCPU, 0, netlink.Dump, nil),
		func(m ctnl.Message) error {
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
