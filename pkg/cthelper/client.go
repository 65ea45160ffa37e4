package cthelper

import (
	"errors"
	"fmt"

	"github.com/gonfct/gonfct/pkg/ctnl"
	"github.com/mdlayher/netlink"
	"github.com/ti-mo/netfilter"
	"golang.org/x/sys/unix"
)

// HintNoCthelper explains the EINVAL nfnetlink gives for a subsystem the
// kernel does not have.
const HintNoCthelper = "the kernel lacks nfnetlink_cthelper: load it with `modprobe nfnetlink_cthelper` " +
	"or use a kernel built with CONFIG_NF_CT_NETLINK_HELPER (the helper engine also needs CONFIG_NETFILTER_NETLINK_GLUE_CT)"

// Client talks nfnetlink_cthelper. Helpers are global to the kernel, not
// per network namespace, and every request needs CAP_NET_ADMIN in the
// initial user namespace.
type Client struct {
	c *ctnl.Conn
}

// NewClient wraps a netfilter socket.
func NewClient(c *ctnl.Conn) *Client { return &Client{c: c} }

func (cl *Client) request(op string, typ netfilter.MessageType, flags netlink.HeaderFlags, attrs []byte, hints ctnl.Hints) ctnl.Request {
	return ctnl.Request{Op: op, Subsys: netfilter.NFSubsysCTHelper, Type: typ, Family: netfilter.ProtoUnspec,
		Flags: flags, Attrs: attrs, Hints: hints}
}

// explain turns nfnetlink's EINVAL for an absent subsystem into
// ErrNotSupported with its hint. EINVAL is also the answer to a malformed
// request, so a dump (which has no attributes to get wrong) decides.
func (cl *Client) explain(err error) error {
	var e *ctnl.Error
	if !errors.As(err, &e) || ctnl.Errno(err) != unix.EINVAL {
		return err
	}
	if perr := cl.c.Query(cl.request("probe nfnetlink_cthelper", msgGet, netlink.Dump, nil, nil), nil); ctnl.Errno(perr) == unix.EINVAL {
		e.Kind = ctnl.ErrNotSupported
		e.Hint = HintNoCthelper
	}
	return err
}

func helperKey(h *Helper) string {
	return fmt.Sprintf("%s %s %s", h.Name, ctnl.FamilyName(h.Family), ctnl.ProtoName(h.Proto))
}

// Add creates a helper. With replace false an existing helper of the same
// name, family and protocol is an error (ErrExists); with replace true it
// is updated in place when the kernel allows it, or deleted and created
// again when its private-data length or policy names change.
func (cl *Client) Add(h *Helper, replace bool) error {
	if err := h.Validate(); err != nil {
		return err
	}
	e := ctnl.NewEncoder(nil)
	encodeHelper(e, h, allFields)
	op := "add helper " + helperKey(h)
	flags := netlink.Create | netlink.Excl
	if replace {
		flags = netlink.Create
	}
	hints := ctnl.Hints{
		unix.EEXIST: "it exists already",
		unix.EBUSY: fmt.Sprintf("a kernel helper named %q is registered (built in, or module nf_conntrack_%s loaded): "+
			"unload it with `modprobe -r nf_nat_%s nf_conntrack_%s`, or choose another name", h.Name, h.Name, h.Name, h.Name),
		unix.EOVERFLOW: fmt.Sprintf("the kernel allows at most %d policies", MaxPolicies),
		unix.ENOMEM:    fmt.Sprintf("private data is limited to %d bytes", MaxPrivLen),
	}
	err := cl.c.Do(cl.request(op, msgNew, flags, e.Bytes(), hints))
	if err == nil || !replace || ctnl.Errno(err) != unix.EBUSY {
		return cl.explain(err)
	}
	// EBUSY with --replace: either our own helper exists with another
	// private-data length or policy set, or a kernel helper holds the name.
	old, gerr := cl.Get(h.Name, h.Family, h.Proto)
	if gerr != nil || len(old) == 0 {
		return err
	}
	if derr := cl.Delete(h.Name, h.Family, h.Proto); derr != nil {
		return fmt.Errorf("replace helper %s: its private-data length or policy names change, which needs delete and add: %w", helperKey(h), derr)
	}
	return cl.Add(h, false)
}

// Update changes queue, status and policy values of an existing helper in
// place; fields left nil keep their value. Policies are matched by name:
// the kernel cannot add, remove or rename an existing helper's policies.
type Update struct {
	QueueNum *uint32
	Status   *Status
	Policies []Policy // by name; each replaces both values of that policy
}

// Update applies u to the helper name/family/proto.
func (cl *Client) Update(name string, family, proto uint8, u Update) error {
	hs, err := cl.Get(name, family, proto)
	if err != nil {
		return err
	}
	h := hs[0]
	op := "update helper " + helperKey(&h)
	f := fields{}
	if u.QueueNum != nil {
		h.QueueNum, f.queue = *u.QueueNum, true
	}
	if u.Status != nil {
		h.Status, f.status = *u.Status, true
	}
	for _, p := range u.Policies {
		i := indexPolicy(h.Policies, p.Name)
		if i < 0 {
			return fmt.Errorf("%s: it has no policy %q (it has %s): the kernel cannot add or rename policies of an existing helper; delete it and add it again",
				op, p.Name, policyNames(h.Policies))
		}
		h.Policies[i] = p
		f.policies = true
	}
	if err := h.Validate(); err != nil {
		return err
	}
	e := ctnl.NewEncoder(nil)
	// No private-data length: the kernel's create path needs it, so an
	// update can never create a helper that vanished meanwhile.
	encodeHelper(e, &h, f)
	return cl.explain(cl.c.Do(cl.request(op, msgNew, 0, e.Bytes(), ctnl.Hints{
		unix.EINVAL: "the helper may have been deleted meanwhile",
	})))
}

// SetStatus enables or disables a helper.
func (cl *Client) SetStatus(name string, family, proto uint8, s Status) error {
	return cl.Update(name, family, proto, Update{Status: &s})
}

func indexPolicy(ps []Policy, name string) int {
	for i, p := range ps {
		if p.Name == name {
			return i
		}
	}
	return -1
}

func policyNames(ps []Policy) string {
	s := ""
	for i, p := range ps {
		if i > 0 {
			s += ", "
		}
		s += p.Name
	}
	return s
}

// List returns every user-space helper (kernel helpers are never listed).
func (cl *Client) List() ([]Helper, error) {
	var hs []Helper
	err := cl.c.Query(cl.request("list helpers", msgGet, netlink.Dump, nil, nil), func(m ctnl.Message) error {
		h, err := decodeHelper(m.Attrs)
		if err != nil {
			return err
		}
		hs = append(hs, h)
		return nil
	})
	if err != nil {
		return nil, cl.explain(err)
	}
	return hs, nil
}

// Get returns the helpers with that name, restricted to a family and
// protocol when they are not 0. None is ErrNotFound.
func (cl *Client) Get(name string, family, proto uint8) ([]Helper, error) {
	all, err := cl.List()
	if err != nil {
		return nil, err
	}
	var hs []Helper
	for _, h := range all {
		if h.Name == name && (family == 0 || h.Family == family) && (proto == 0 || h.Proto == proto) {
			hs = append(hs, h)
		}
	}
	if len(hs) == 0 {
		return nil, &ctnl.Error{Op: "get helper " + keyWords(name, family, proto), Err: unix.ENOENT,
			Hint: "no such user-space helper"}
	}
	return hs, nil
}

func keyWords(name string, family, proto uint8) string {
	s := name
	if family != 0 {
		s += " " + ctnl.FamilyName(family)
	}
	if proto != 0 {
		s += " " + ctnl.ProtoName(proto)
	}
	return s
}

// HintInUse explains EBUSY on delete.
const HintInUse = "it is in use by a ruleset: a CT target (iptables -j CT --helper) or an nft `ct helper` object references it; remove that rule or object first"

// Delete removes the helpers with that name (of one family and protocol
// when they are not 0).
func (cl *Client) Delete(name string, family, proto uint8) error {
	hs, err := cl.Get(name, family, proto)
	if err != nil {
		return err
	}
	for i := range hs {
		h := &hs[i]
		e := ctnl.NewEncoder(nil)
		e.String(attrName, h.Name)
		encodeTuple(e, h.Family, h.Proto)
		op := "delete helper " + helperKey(h)
		if err := cl.c.Do(cl.request(op, msgDel, 0, e.Bytes(), ctnl.Hints{unix.EBUSY: HintInUse})); err != nil {
			return cl.explain(err)
		}
	}
	return nil
}

// Flush deletes every user-space helper not in use, and returns those it
// had to keep. The kernel answers success when it deleted any, EBUSY when
// every one it tried was in use: either way the list tells which stayed.
func (cl *Client) Flush() (kept []Helper, err error) {
	if err := cl.c.Do(cl.request("flush helpers", msgDel, 0, nil, nil)); err != nil && ctnl.Errno(err) != unix.EBUSY {
		return nil, cl.explain(err)
	}
	return cl.List()
}
