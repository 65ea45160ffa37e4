package expect

// ctnetlink expectation messages and attributes
// (uapi/linux/netfilter/nfnetlink_conntrack.h, nfnetlink.h).
const (
	msgNew         = 0 // IPCTNL_MSG_EXP_NEW
	msgGet         = 1 // IPCTNL_MSG_EXP_GET
	msgDelete      = 2 // IPCTNL_MSG_EXP_DELETE
	msgGetStatsCPU = 3 // IPCTNL_MSG_EXP_GET_STATS_CPU

	attrMaster   = 1  // CTA_EXPECT_MASTER
	attrTuple    = 2  // CTA_EXPECT_TUPLE
	attrMask     = 3  // CTA_EXPECT_MASK
	attrTimeout  = 4  // CTA_EXPECT_TIMEOUT
	attrID       = 5  // CTA_EXPECT_ID
	attrHelpName = 6  // CTA_EXPECT_HELP_NAME
	attrZone     = 7  // CTA_EXPECT_ZONE
	attrFlags    = 8  // CTA_EXPECT_FLAGS
	attrClass    = 9  // CTA_EXPECT_CLASS
	attrNAT      = 10 // CTA_EXPECT_NAT
	attrFn       = 11 // CTA_EXPECT_FN

	attrNATDir   = 1 // CTA_EXPECT_NAT_DIR
	attrNATTuple = 2 // CTA_EXPECT_NAT_TUPLE

	attrStatsNew    = 1 // CTA_STATS_EXP_NEW
	attrStatsCreate = 2 // CTA_STATS_EXP_CREATE
	attrStatsDelete = 3 // CTA_STATS_EXP_DELETE

	// Multicast groups (enum nfnetlink_groups).
	groupNew     = 4 // NFNLGRP_CONNTRACK_EXP_NEW
	groupDestroy = 6 // NFNLGRP_CONNTRACK_EXP_DESTROY

	// Conntrack (flow) messages and attributes, for the master lookups the
	// zone filter needs.
	ctMsgGet     = 1  // IPCTNL_MSG_CT_GET
	ctAttrOrig   = 1  // CTA_TUPLE_ORIG
	ctAttrHelp   = 5  // CTA_HELP
	ctAttrZone   = 18 // CTA_ZONE
	ctaTupleZone = 3  // CTA_TUPLE_ZONE
)
