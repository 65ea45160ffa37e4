// Package cthelper is gonfct's view of user-space conntrack helpers:
//
//   - the nfnetlink_cthelper client (Client: Add, Update, Get, List, Delete,
//     Flush, SetStatus) over the Helper object the kernel keeps — name,
//     tuple (family, protocol), queue number, expectation policies, private
//     data length and status;
//   - the Parser interface a protocol implements, as a pure function over a
//     Packet (bytes, direction, flow facts, private data) that fills a
//     Result (verdict, expectations to create, new private data, payload
//     rewrites), with no netlink and no I/O;
//   - Spec, what a built-in helper is by default (its policies, private
//     data length, typical port), and Registry, a table of Specs.
//
// The table of built-in helpers lives in pkg/cthelper/builtin, which
// imports every protocol package: a new protocol is one line there.
package cthelper
