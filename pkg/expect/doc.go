// Package expect is the conntrack expectation model and its ctnetlink
// operations: list (streamed, constant memory however large the table),
// get, create, delete (by tuple, by ID, by master, by helper), flush,
// count, per-CPU statistics, and events with loss accounting.
//
// The wire encoding (Expectation.Encode, Decoder.Decode) is shared with the
// helper engine, which sends the same CTA_EXPECT_* attributes nested in
// NFQA_EXP inside an NFQUEUE verdict.
//
// Kernel semantics worth knowing (net/netfilter/nf_conntrack_netlink.c):
//   - the master conntrack must carry a helper, else create answers
//     EOPNOTSUPP;
//   - the timeout of a new expectation comes from the master helper's
//     policy for its class; CTA_EXPECT_TIMEOUT only changes an existing one;
//   - HelperName on create assigns a helper to the expected connection, and
//     the class is checked against that helper's class count (EINVAL); in
//     dumps and events HelperName is the master's helper;
//   - an expectation whose tuple clashes with another master's answers
//     EBUSY; over the helper's ExpectMax the oldest one of the class is
//     evicted;
//   - dumps and events carry no zone: an expectation's zone is its
//     master's.
package expect
