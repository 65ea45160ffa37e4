// Package nfq is a thin NFQUEUE (nfnetlink_queue) layer on ctnl, made for
// conntrack helpers: it binds a queue with the conntrack glue
// (NFQA_CFG_F_CONNTRACK) and checks the kernel's answer to every config
// command, hands out each queued packet as a zero-copy view with its
// conntrack attributes (NFQA_CT, NFQA_CT_INFO), and sends verdicts that
// carry only what the helper changed: CTA_HELP private data in NFQA_CT, an
// expectation in NFQA_EXP, a rewritten payload.
//
// The wire format lives in wire.go (pure encode/decode, table-tested); the
// socket side in queue.go.
package nfq
