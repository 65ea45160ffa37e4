package ctflow

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
