package ctnetlink

// Message types of the conntrack subsystem (NFNL_SUBSYS_CTNETLINK).
const (
	MsgNew            = 0 // IPCTNL_MSG_CT_NEW
	MsgGet            = 1 // IPCTNL_MSG_CT_GET
	MsgDelete         = 2 // IPCTNL_MSG_CT_DELETE
	MsgGetStatsCPU    = 4 // IPCTNL_MSG_CT_GET_STATS_CPU
	MsgGetStats       = 5 // IPCTNL_MSG_CT_GET_STATS
	MsgGetDying       = 6 // IPCTNL_MSG_CT_GET_DYING
	MsgGetUnconfirmed = 7 // IPCTNL_MSG_CT_GET_UNCONFIRMED
)

// Message types of the expectation subsystem (NFNL_SUBSYS_CTNETLINK_EXP).
const (
	MsgExpNew         = 0 // IPCTNL_MSG_EXP_NEW
	MsgExpGet         = 1 // IPCTNL_MSG_EXP_GET
	MsgExpDelete      = 2 // IPCTNL_MSG_EXP_DELETE
	MsgExpGetStatsCPU = 3 // IPCTNL_MSG_EXP_GET_STATS_CPU
)

// Multicast groups (enum nfnetlink_groups).
const (
	GroupNew        = 1 // NFNLGRP_CONNTRACK_NEW
	GroupUpdate     = 2 // NFNLGRP_CONNTRACK_UPDATE
	GroupDestroy    = 3 // NFNLGRP_CONNTRACK_DESTROY
	GroupExpNew     = 4 // NFNLGRP_CONNTRACK_EXP_NEW
	GroupExpDestroy = 6 // NFNLGRP_CONNTRACK_EXP_DESTROY
)

// Conntrack attributes (enum ctattr_type).
const (
	AttrTupleOrig     = 1  // CTA_TUPLE_ORIG
	AttrTupleReply    = 2  // CTA_TUPLE_REPLY
	AttrStatus        = 3  // CTA_STATUS
	AttrProtoinfo     = 4  // CTA_PROTOINFO
	AttrHelp          = 5  // CTA_HELP
	AttrTimeout       = 7  // CTA_TIMEOUT
	AttrMark          = 8  // CTA_MARK
	AttrCountersOrig  = 9  // CTA_COUNTERS_ORIG
	AttrCountersReply = 10 // CTA_COUNTERS_REPLY
	AttrUse           = 11 // CTA_USE
	AttrID            = 12 // CTA_ID
	AttrTupleMaster   = 14 // CTA_TUPLE_MASTER
	AttrZone          = 18 // CTA_ZONE
	AttrSecctx        = 19 // CTA_SECCTX
	AttrTimestamp     = 20 // CTA_TIMESTAMP
	AttrMarkMask      = 21 // CTA_MARK_MASK
	AttrLabels        = 22 // CTA_LABELS
	AttrLabelsMask    = 23 // CTA_LABELS_MASK
	AttrFilter        = 25 // CTA_FILTER
	AttrStatusMask    = 26 // CTA_STATUS_MASK
)

// Inside a tuple (enum ctattr_tuple, ctattr_ip, ctattr_l4proto).
const (
	AttrTupleIP    = 1 // CTA_TUPLE_IP
	AttrTupleProto = 2 // CTA_TUPLE_PROTO
	AttrTupleZone  = 3 // CTA_TUPLE_ZONE

	AttrIPv4Src = 1 // CTA_IP_V4_SRC
	AttrIPv4Dst = 2 // CTA_IP_V4_DST
	AttrIPv6Src = 3 // CTA_IP_V6_SRC
	AttrIPv6Dst = 4 // CTA_IP_V6_DST

	AttrProtoNum        = 1 // CTA_PROTO_NUM
	AttrProtoSrcPort    = 2 // CTA_PROTO_SRC_PORT (GRE: the source key)
	AttrProtoDstPort    = 3 // CTA_PROTO_DST_PORT (GRE: the destination key)
	AttrProtoICMPID     = 4 // CTA_PROTO_ICMP_ID
	AttrProtoICMPType   = 5 // CTA_PROTO_ICMP_TYPE
	AttrProtoICMPCode   = 6 // CTA_PROTO_ICMP_CODE
	AttrProtoICMPv6ID   = 7 // CTA_PROTO_ICMPV6_ID
	AttrProtoICMPv6Type = 8 // CTA_PROTO_ICMPV6_TYPE
	AttrProtoICMPv6Code = 9 // CTA_PROTO_ICMPV6_CODE
)

// Inside CTA_PROTOINFO (enum ctattr_protoinfo and its per-protocol enums).
const (
	AttrProtoinfoTCP  = 1 // CTA_PROTOINFO_TCP
	AttrProtoinfoDCCP = 2 // CTA_PROTOINFO_DCCP
	AttrProtoinfoSCTP = 3 // CTA_PROTOINFO_SCTP

	AttrTCPState      = 1 // CTA_PROTOINFO_TCP_STATE
	AttrTCPWScaleOrig = 2 // CTA_PROTOINFO_TCP_WSCALE_ORIGINAL
	AttrTCPWScaleRepl = 3 // CTA_PROTOINFO_TCP_WSCALE_REPLY
	AttrTCPFlagsOrig  = 4 // CTA_PROTOINFO_TCP_FLAGS_ORIGINAL
	AttrTCPFlagsRepl  = 5 // CTA_PROTOINFO_TCP_FLAGS_REPLY

	AttrDCCPState = 1 // CTA_PROTOINFO_DCCP_STATE

	AttrSCTPState     = 1 // CTA_PROTOINFO_SCTP_STATE
	AttrSCTPVTagOrig  = 2 // CTA_PROTOINFO_SCTP_VTAG_ORIGINAL
	AttrSCTPVTagReply = 3 // CTA_PROTOINFO_SCTP_VTAG_REPLY
)

// Inside the other nested conntrack attributes.
const (
	AttrHelpName = 1 // CTA_HELP_NAME (NUL-terminated)
	AttrHelpInfo = 2 // CTA_HELP_INFO (the helper's private data)

	AttrCountersPackets   = 1 // CTA_COUNTERS_PACKETS (be64)
	AttrCountersBytes     = 2 // CTA_COUNTERS_BYTES (be64)
	AttrCounters32Packets = 3 // CTA_COUNTERS32_PACKETS
	AttrCounters32Bytes   = 4 // CTA_COUNTERS32_BYTES

	AttrTimestampStart = 1 // CTA_TIMESTAMP_START
	AttrTimestampStop  = 2 // CTA_TIMESTAMP_STOP

	AttrSecctxName = 1 // CTA_SECCTX_NAME

	AttrFilterOrigFlags  = 1 // CTA_FILTER_ORIG_FLAGS (host byte order u32)
	AttrFilterReplyFlags = 2 // CTA_FILTER_REPLY_FLAGS

	AttrStatsGlobalEntries = 1 // CTA_STATS_GLOBAL_ENTRIES
)

// StatsNames are the per-CPU conntrack counters (enum ctattr_stats_cpu,
// CTA_STATS_SEARCHED = 1 ... CTA_STATS_CHAIN_TOOLONG = 15) by attribute
// number, in conntrack -S's words; kernels send a subset (6.18: found,
// invalid, insert, insert_failed, drop, early_drop, error,
// search_restart, clash_resolve, chaintoolong).
var StatsNames = [...]string{1: "searched", 2: "found", 3: "new", 4: "invalid", 5: "ignore", 6: "delete",
	7: "delete_list", 8: "insert", 9: "insert_failed", 10: "drop", 11: "early_drop", 12: "error",
	13: "search_restart", 14: "clash_resolve", 15: "chaintoolong"}

// CTA_FILTER flag bits (CTA_FILTER_F_*).
const (
	FilterIPSrc    = 1 << 0 // CTA_FILTER_FLAG(CTA_IP_SRC)
	FilterIPDst    = 1 << 1 // CTA_FILTER_FLAG(CTA_IP_DST)
	FilterProtoNum = 1 << 3 // CTA_FILTER_FLAG(CTA_PROTO_NUM)
	FilterSrcPort  = 1 << 4 // CTA_FILTER_FLAG(CTA_PROTO_SRC_PORT)
	FilterDstPort  = 1 << 5 // CTA_FILTER_FLAG(CTA_PROTO_DST_PORT)
)

// Expectation attributes (enum ctattr_expect and its nested enums).
const (
	AttrExpectMaster   = 1  // CTA_EXPECT_MASTER
	AttrExpectTuple    = 2  // CTA_EXPECT_TUPLE
	AttrExpectMask     = 3  // CTA_EXPECT_MASK
	AttrExpectTimeout  = 4  // CTA_EXPECT_TIMEOUT
	AttrExpectID       = 5  // CTA_EXPECT_ID
	AttrExpectHelpName = 6  // CTA_EXPECT_HELP_NAME
	AttrExpectZone     = 7  // CTA_EXPECT_ZONE
	AttrExpectFlags    = 8  // CTA_EXPECT_FLAGS
	AttrExpectClass    = 9  // CTA_EXPECT_CLASS
	AttrExpectNAT      = 10 // CTA_EXPECT_NAT
	AttrExpectFn       = 11 // CTA_EXPECT_FN

	AttrExpectNATDir   = 1 // CTA_EXPECT_NAT_DIR
	AttrExpectNATTuple = 2 // CTA_EXPECT_NAT_TUPLE

	AttrStatsExpNew    = 1 // CTA_STATS_EXP_NEW
	AttrStatsExpCreate = 2 // CTA_STATS_EXP_CREATE
	AttrStatsExpDelete = 3 // CTA_STATS_EXP_DELETE
)
