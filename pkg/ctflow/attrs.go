package ctflow

// ctnetlink message types and attributes
// (uapi/linux/netfilter/nfnetlink_conntrack.h).
const (
	msgNew    = 0 // IPCTNL_MSG_CT_NEW
	msgGet    = 1 // IPCTNL_MSG_CT_GET
	msgDelete = 2 // IPCTNL_MSG_CT_DELETE
)

const (
	ctaTupleOrig    = 1  // CTA_TUPLE_ORIG
	ctaTupleReply   = 2  // CTA_TUPLE_REPLY
	ctaStatus       = 3  // CTA_STATUS
	ctaProtoinfo    = 4  // CTA_PROTOINFO
	ctaHelp         = 5  // CTA_HELP
	ctaTimeout      = 7  // CTA_TIMEOUT
	ctaMark         = 8  // CTA_MARK
	ctaCountersOrig = 9  // CTA_COUNTERS_ORIG
	ctaCountersRepl = 10 // CTA_COUNTERS_REPLY
	ctaUse          = 11 // CTA_USE
	ctaID           = 12 // CTA_ID
	ctaTupleMaster  = 14 // CTA_TUPLE_MASTER
	ctaZone         = 18 // CTA_ZONE
	ctaSecctx       = 19 // CTA_SECCTX
	ctaTimestamp    = 20 // CTA_TIMESTAMP
	ctaMarkMask     = 21 // CTA_MARK_MASK
	ctaLabels       = 22 // CTA_LABELS
	ctaLabelsMask   = 23 // CTA_LABELS_MASK
	ctaFilter       = 25 // CTA_FILTER
	ctaStatusMask   = 26 // CTA_STATUS_MASK

	ctaTupleZone = 3 // CTA_TUPLE_ZONE, inside a tuple

	ctaProtoinfoTCP  = 1 // CTA_PROTOINFO_TCP
	ctaProtoinfoDCCP = 2 // CTA_PROTOINFO_DCCP
	ctaProtoinfoSCTP = 3 // CTA_PROTOINFO_SCTP

	ctaProtoinfoTCPState      = 1 // CTA_PROTOINFO_TCP_STATE
	ctaProtoinfoTCPWScaleOrig = 2 // CTA_PROTOINFO_TCP_WSCALE_ORIGINAL
	ctaProtoinfoTCPWScaleRepl = 3 // CTA_PROTOINFO_TCP_WSCALE_REPLY
	ctaProtoinfoTCPFlagsOrig  = 4 // CTA_PROTOINFO_TCP_FLAGS_ORIGINAL
	ctaProtoinfoTCPFlagsRepl  = 5 // CTA_PROTOINFO_TCP_FLAGS_REPLY

	ctaProtoinfoDCCPState = 1 // CTA_PROTOINFO_DCCP_STATE

	ctaProtoinfoSCTPState     = 1 // CTA_PROTOINFO_SCTP_STATE
	ctaProtoinfoSCTPVTagOrig  = 2 // CTA_PROTOINFO_SCTP_VTAG_ORIGINAL
	ctaProtoinfoSCTPVTagReply = 3 // CTA_PROTOINFO_SCTP_VTAG_REPLY

	ctaHelpName = 1 // CTA_HELP_NAME
	ctaHelpInfo = 2 // CTA_HELP_INFO

	ctaCountersPackets   = 1 // CTA_COUNTERS_PACKETS (be64)
	ctaCountersBytes     = 2 // CTA_COUNTERS_BYTES (be64)
	ctaCounters32Packets = 3 // CTA_COUNTERS32_PACKETS
	ctaCounters32Bytes   = 4 // CTA_COUNTERS32_BYTES

	ctaTimestampStart = 1 // CTA_TIMESTAMP_START
	ctaTimestampStop  = 2 // CTA_TIMESTAMP_STOP

	ctaSecctxName = 1 // CTA_SECCTX_NAME

	ctaFilterOrigFlags  = 1 // CTA_FILTER_ORIG_FLAGS (host byte order u32)
	ctaFilterReplyFlags = 2 // CTA_FILTER_REPLY_FLAGS
)

// CTA_FILTER flag bits (nf_conntrack_netlink.c, CTA_FILTER_F_*).
const (
	filterIPSrc    = 1 << 0
	filterIPDst    = 1 << 1
	filterProtoNum = 1 << 3
	filterSrcPort  = 1 << 4
	filterDstPort  = 1 << 5
)

// Multicast groups (NFNLGRP_CONNTRACK_*).
const (
	groupNew     = 1
	groupUpdate  = 2
	groupDestroy = 3
)

// Sizes the kernel fixes.
const (
	// HelperNameMax is NF_CT_HELPER_NAME_LEN-1: the longest helper name.
	HelperNameMax = 15
	// HelperInfoMax is sizeof(nf_conn_help.data): the most private data a
	// helper keeps per conntrack.
	HelperInfoMax = 32
	// LabelsLen is the size of the conntrack label bitmap (128 bits).
	LabelsLen = 16
)
