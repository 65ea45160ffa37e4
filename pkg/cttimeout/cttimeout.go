// Package cttimeout is the client of the kernel's conntrack timeout
// policies (nfnetlink_cttimeout): named per-protocol timeout sets that
// `-j CT --timeout NAME` rules attach to connections, and the per-namespace
// default timeouts of each protocol tracker. Policies live in a network
// namespace: a Conn dialled in another namespace sees other policies.
//
// Kernel semantics this package relies on (verified on Linux 6.18):
//   - NEW on an existing name answers EBUSY, or EEXIST with NLM_F_EXCL
//     (Add sends it); with NLM_F_REPLACE it rewrites the policy in place,
//     even while rules use it, but resets every state not in the message to
//     the namespace's default first. Update therefore reads the policy and
//     sends all of its states. REPLACE refuses another family or protocol
//     (EINVAL) and creates the policy if the name does not exist.
//   - DELETE answers EBUSY while a rule holds a reference (USE > 1); a
//     flush (DELETE without a name) skips such policies silently.
//   - DEFAULT_SET changes only the states given; udplite shares udp's
//     defaults, so setting one changes the other.
//   - Protocols the kernel does not track answer EOPNOTSUPP (DCCP was
//     removed in Linux 6.16).
//   - nft's own `ct timeout` objects are nf_tables objects, not cttimeout
//     policies: they neither appear here nor hold policies of the same name.
package cttimeout

import (
	"errors"
	"fmt"
	"strings"

	"github.com/gonfct/gonfct/pkg/ctnl"
	"github.com/mdlayher/netlink"
	"github.com/ti-mo/netfilter"
	"golang.org/x/sys/unix"
)

func request(op string, typ netfilter.MessageType, flags netlink.HeaderFlags, attrs []byte, hints ctnl.Hints) ctnl.Request {
	for errno, h := range commonHints {
		if _, ok := hints[errno]; !ok {
			if hints == nil {
				hints = ctnl.Hints{}
			}
			hints[errno] = h
		}
	}
	return ctnl.Request{
		Op:     op,
		Subsys: subsysTimeout,
		Type:   typ,
		Family: netfilter.ProtoUnspec,
		Flags:  flags,
		Attrs:  attrs,
		Hints:  hints,
	}
}

// commonHints apply to every cttimeout request. nfnetlink answers EINVAL
// for a subsystem the kernel lacks; well-formed cttimeout requests (which
// this package only sends) get EINVAL for nothing else.
var commonHints = ctnl.Hints{
	unix.EINVAL: "the running kernel lacks cttimeout (CONFIG_NF_CT_NETLINK_TIMEOUT, module nfnetlink_cttimeout)",
}

// CheckName validates a policy name before anything is sent.
func CheckName(name string) error {
	switch {
	case name == "":
		return usagef("empty timeout policy name")
	case len(name) > MaxNameLen:
		return usagef("timeout policy name %q is %d bytes long: the kernel takes at most %d", name, len(name), MaxNameLen)
	case strings.IndexByte(name, 0) >= 0:
		return usagef("timeout policy name %q contains a NUL byte", name)
	}
	return nil
}

func checkPolicy(p Policy) error {
	if err := CheckName(p.Name); err != nil {
		return err
	}
	return checkKey(p.Family, p.Proto)
}

func checkKey(family, proto uint8) error {
	if family != unix.AF_INET && family != unix.AF_INET6 {
		return usagef("bad family %d: want inet (AF_INET) or inet6 (AF_INET6)", family)
	}
	if lookupProto(proto) == nil {
		return usagef("no timeout states for protocol %d: want %s", proto, ProtoNames)
	}
	return nil
}

func notTrackedHint(proto uint8) string {
	return fmt.Sprintf("the running kernel does not track %s connections (its conntrack support is not built in; DCCP's was removed in Linux 6.16)", protoName(proto))
}

// Add creates a policy. States not set take the namespace's current
// defaults. An existing name is an error matching ctnl.ErrExists.
func Add(c *ctnl.Conn, p Policy) error {
	if err := checkPolicy(p); err != nil {
		return err
	}
	return c.Do(addRequest(p))
}

func addRequest(p Policy) ctnl.Request {
	e := ctnl.NewEncoder(nil)
	marshalPolicy(e, p)
	return request("add timeout policy "+p.Name, msgNew, netlink.Create|netlink.Excl, e.Bytes(), ctnl.Hints{
		unix.EOPNOTSUPP: notTrackedHint(p.Proto),
	})
}

// Replace rewrites an existing policy's values in place (NLM_F_REPLACE),
// which also works while rules use it. The kernel resets every state not
// set in p to the namespace's default: use Update to change some states and
// keep the others.
func Replace(c *ctnl.Conn, p Policy) error {
	if err := checkPolicy(p); err != nil {
		return err
	}
	return c.Do(replaceRequest(p))
}

func replaceRequest(p Policy) ctnl.Request {
	e := ctnl.NewEncoder(nil)
	marshalPolicy(e, p)
	return request("update timeout policy "+p.Name, msgNew, netlink.Replace, e.Bytes(), ctnl.Hints{
		unix.EINVAL:     "a policy's family and protocol cannot change: delete it and add it again",
		unix.EOPNOTSUPP: notTrackedHint(p.Proto),
	})
}

// ErrMismatch is returned by Update when the policy has another family or
// protocol than the caller said.
var ErrMismatch = errors.New("family or protocol differ")

// Update changes some states of an existing policy and keeps the others,
// in place: rules and connections that use it see the new values. family
// and proto, when not 0, must be the policy's. settings are resolved
// against the policy's protocol before anything is written; their errors
// match ErrUsage.
func Update(c *ctnl.Conn, name string, family, proto uint8, settings []Setting) (Policy, error) {
	if err := CheckName(name); err != nil {
		return Policy{}, err
	}
	cur, err := Get(c, name)
	if err != nil {
		return Policy{}, err
	}
	if (family != 0 && family != cur.Family) || (proto != 0 && proto != cur.Proto) {
		return cur, &ctnl.Error{
			Op:   "update timeout policy " + name,
			Err:  fmt.Errorf("%w: it is %s %s, not %s %s", ErrMismatch, ctnl.FamilyName(cur.Family), protoName(cur.Proto), famOr(family, cur.Family), protoName(protoOr(proto, cur.Proto))),
			Hint: "a policy's family and protocol cannot change: delete it and add it again",
		}
	}
	changes, err := Resolve(cur.Proto, settings)
	if err != nil {
		return cur, err
	}
	next := cur
	// Send only the states this package knows for the protocol, all of
	// them, so that the kernel's reset to defaults changes nothing else.
	next.Timeouts = Timeouts{}
	for _, s := range States(cur.Proto) {
		if v, ok := cur.Timeouts.Get(s.Attr); ok {
			next.Timeouts.Set(s.Attr, v)
		}
	}
	next.Timeouts.Merge(changes)
	if err := Replace(c, next); err != nil {
		return cur, err
	}
	return next, nil
}

func famOr(f, def uint8) string {
	if f == 0 {
		f = def
	}
	return ctnl.FamilyName(f)
}

func protoOr(p, def uint8) uint8 {
	if p == 0 {
		return def
	}
	return p
}

func notFoundHint(name string) ctnl.Hints {
	return ctnl.Hints{unix.ENOENT: fmt.Sprintf("no timeout policy %q in this network namespace", name)}
}

// Get reads one policy.
func Get(c *ctnl.Conn, name string) (Policy, error) {
	if err := CheckName(name); err != nil {
		return Policy{}, err
	}
	var (
		p     Policy
		found bool
	)
	err := c.Query(getRequest(name), func(m ctnl.Message) error {
		var err error
		p, err = unmarshalPolicy(m.Attrs)
		found = true
		return err
	})
	if err == nil && !found {
		err = ctnl.Errorf("get timeout policy "+name, unix.ENOENT, "the kernel acknowledged without an answer")
	}
	return p, err
}

func getRequest(name string) ctnl.Request {
	e := ctnl.NewEncoder(nil)
	marshalName(e, name)
	return request("get timeout policy "+name, msgGet, 0, e.Bytes(), notFoundHint(name))
}

func listRequest() ctnl.Request {
	return request("list timeout policies", msgGet, netlink.Dump, nil, nil)
}

// List calls fn for every policy of the namespace, in the kernel's order,
// as the dump arrives.
func List(c *ctnl.Conn, fn func(Policy) error) error {
	return c.Query(listRequest(), func(m ctnl.Message) error {
		p, err := unmarshalPolicy(m.Attrs)
		if err != nil {
			return err
		}
		return fn(p)
	})
}

// Delete removes one policy. While rules use it the kernel refuses with
// EBUSY; the error then says how many.
func Delete(c *ctnl.Conn, name string) error {
	if err := CheckName(name); err != nil {
		return err
	}
	err := c.Do(deleteRequest(name))
	if errors.Is(err, unix.EBUSY) {
		var ce *ctnl.Error
		if errors.As(err, &ce) {
			ce.Hint = busyHint(c, name)
		}
	}
	return err
}

func deleteRequest(name string) ctnl.Request {
	e := ctnl.NewEncoder(nil)
	marshalName(e, name)
	return request("delete timeout policy "+name, msgDelete, 0, e.Bytes(), notFoundHint(name))
}

func flushRequest() ctnl.Request {
	return request("flush timeout policies", msgDelete, 0, nil, nil)
}

func busyHint(c *ctnl.Conn, name string) string {
	users := "rules"
	if p, err := Get(c, name); err == nil && p.Use > 1 {
		users = fmt.Sprintf("%d rule(s)", p.Use-1)
		if p.Use == 2 {
			users = "1 rule"
		}
	}
	return fmt.Sprintf("it is in use by %s such as `iptables -t raw ... -j CT --timeout %s`", users, name)
}

// Flush deletes every policy of the namespace that no rule uses and
// returns the names of those kept because they are in use (the kernel
// skips them without a word).
func Flush(c *ctnl.Conn) (kept []string, err error) {
	if err := c.Do(flushRequest()); err != nil {
		return nil, err
	}
	err = List(c, func(p Policy) error {
		kept = append(kept, p.Name)
		return nil
	})
	return kept, err
}

// DefaultGet reads the namespace's default timeouts of one protocol tracker.
func DefaultGet(c *ctnl.Conn, family, proto uint8) (Policy, error) {
	if err := checkKey(family, proto); err != nil {
		return Policy{}, err
	}
	var (
		p     Policy
		found bool
	)
	req := defaultGetRequest(family, proto)
	err := c.Query(req, func(m ctnl.Message) error {
		var err error
		p, err = unmarshalPolicy(m.Attrs)
		found = true
		return err
	})
	if err == nil && !found {
		err = ctnl.Errorf(req.Op, unix.ENOENT, "the kernel acknowledged without an answer")
	}
	return p, err
}

func defaultGetRequest(family, proto uint8) ctnl.Request {
	e := ctnl.NewEncoder(nil)
	marshalKey(e, family, proto)
	op := fmt.Sprintf("get default timeouts of %s %s", ctnl.FamilyName(family), protoName(proto))
	return request(op, msgDefaultGet, 0, e.Bytes(), ctnl.Hints{unix.EOPNOTSUPP: notTrackedHint(proto)})
}

// DefaultSet changes the given states of the namespace's defaults of one
// protocol tracker; the others keep their values. The defaults are the
// net.netfilter.nf_conntrack_*_timeout* sysctls of the namespace. They
// apply to both families whatever family is given.
func DefaultSet(c *ctnl.Conn, family, proto uint8, t Timeouts) error {
	if err := checkKey(family, proto); err != nil {
		return err
	}
	if t.Len() == 0 {
		return usagef("no timeouts to set")
	}
	return c.Do(defaultSetRequest(family, proto, t))
}

func defaultSetRequest(family, proto uint8, t Timeouts) ctnl.Request {
	e := ctnl.NewEncoder(nil)
	marshalDefaults(e, family, proto, t)
	op := fmt.Sprintf("set default timeouts of %s %s", ctnl.FamilyName(family), protoName(proto))
	return request(op, msgDefaultSet, 0, e.Bytes(), ctnl.Hints{unix.EOPNOTSUPP: notTrackedHint(proto)})
}
