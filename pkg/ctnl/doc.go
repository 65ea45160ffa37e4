// Package ctnl is the nfnetlink plumbing every gonfct subsystem shares:
// dialling a NETLINK_NETFILTER socket (in the current or a named network
// namespace), request/acknowledge exchanges, streaming dumps that never hold
// a whole table in memory, event subscriptions with loss accounting, a small
// allocation-free attribute encoder and scanner, the tuple type ctnetlink and
// the helper engine speak, and typed errors that wrap errno with a hint.
//
// It knows no subsystem's attributes beyond tuples: cthelper, cttimeout,
// expectations and conntracks live in their own packages and call Conn.Do
// and Conn.Query with requests they encode themselves. Unit tests run a
// Conn over package ctnltest's in-memory socket.
package ctnl
