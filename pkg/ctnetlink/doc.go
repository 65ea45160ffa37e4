// Package ctnetlink holds what conntracks and expectations share on the
// wire (uapi/linux/netfilter/nfnetlink_conntrack.h): the message types,
// attribute numbers and multicast groups of both ctnetlink subsystems, the
// Tuple with its one codec (netlink attributes, conntrack(8) text, JSON,
// command-line words), the optional Port filters take, the event types,
// and the event watcher with loss accounting that pkg/ctflow and
// pkg/expect build on. pkg/cthelper/engine and pkg/nfq take the attribute
// numbers from here too.
//
// The netlink transport itself (sockets, attribute encoder and scanner,
// errors) is pkg/ctnl.
package ctnetlink
