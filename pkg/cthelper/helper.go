package cthelper

import (
	"fmt"
	"unicode/utf8"
)

// Kernel limits (nfnetlink_cthelper).
const (
	MaxNameLen     = 15 // NF_CT_HELPER_NAME_LEN - 1, bytes
	MaxPolicies    = 4  // NF_CT_MAX_EXPECT_CLASSES
	MaxExpectLimit = 255
	MaxPrivLen     = 32 // bytes of nf_conn_help data
)

// Status is whether the kernel sends a helper's packets to its queue.
type Status uint32

const (
	// Disabled: packets pass un-helped (NFCT_HELPER_STATUS_DISABLED).
	Disabled Status = 0
	// Enabled: packets are queued to QueueNum (NFCT_HELPER_STATUS_ENABLED).
	Enabled Status = 1
)

func (s Status) String() string {
	if s != Disabled {
		return "enabled"
	}
	return "disabled"
}

// Policy is one expectation class of a helper: how many expectations a
// master may have at once and how long each lives.
type Policy struct {
	Name          string `json:"name"`
	ExpectMax     uint32 `json:"expect_max"`
	ExpectTimeout uint32 `json:"expect_timeout"` // seconds
}

// Helper is a user-space helper object as the kernel keeps it. Name,
// Family and Proto are its key.
type Helper struct {
	Name     string
	Family   uint8 // AF_INET or AF_INET6
	Proto    uint8 // IPPROTO_TCP or IPPROTO_UDP
	QueueNum uint32
	Policies []Policy
	PrivLen  uint32
	Status   Status
}

// Validate checks a helper against the kernel's limits, so a bad one is
// refused before anything is sent.
func (h *Helper) Validate() error {
	if err := ValidateName("helper", h.Name); err != nil {
		return err
	}
	if len(h.Policies) == 0 {
		return fmt.Errorf("helper %q has no expectation policy: the kernel needs at least one", h.Name)
	}
	if len(h.Policies) > MaxPolicies {
		return fmt.Errorf("helper %q has %d policies: the kernel allows at most %d expectation classes", h.Name, len(h.Policies), MaxPolicies)
	}
	for _, p := range h.Policies {
		if err := ValidateName("policy", p.Name); err != nil {
			return err
		}
		if p.ExpectMax > MaxExpectLimit {
			return fmt.Errorf("policy %q: ExpectMax %d is above the kernel's limit of %d", p.Name, p.ExpectMax, MaxExpectLimit)
		}
	}
	if h.PrivLen > MaxPrivLen {
		return fmt.Errorf("helper %q: private data of %d bytes is above the kernel's limit of %d", h.Name, h.PrivLen, MaxPrivLen)
	}
	if h.QueueNum > 65535 {
		return fmt.Errorf("helper %q: queue %d is above 65535", h.Name, h.QueueNum)
	}
	return nil
}

// ValidateName checks a helper or policy name: 1 to 15 bytes, printable.
func ValidateName(what, name string) error {
	switch {
	case name == "":
		return fmt.Errorf("empty %s name", what)
	case len(name) > MaxNameLen:
		return fmt.Errorf("%s name %q is %d bytes long: the kernel allows at most %d", what, name, len(name), MaxNameLen)
	case !utf8.ValidString(name):
		return fmt.Errorf("%s name %q is not valid UTF-8", what, name)
	}
	for _, c := range name {
		if c <= ' ' || c == 0x7f {
			return fmt.Errorf("%s name %q contains a space or control character", what, name)
		}
	}
	return nil
}
