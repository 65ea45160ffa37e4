package cttimeout

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/gonfct/gonfct/pkg/ctnl"
	"golang.org/x/sys/unix"
)

// State is one timeout state of a protocol tracker: its name as nfct (and
// libnetfilter_cttimeout) spells it, and its attribute number inside
// CTA_TIMEOUT_DATA (uapi nfnetlink_cttimeout.h).
type State struct {
	Name string
	Attr uint16
}

// protocol is one tracker the kernel keeps timeout policies for.
type protocol struct {
	num    uint8
	states []State
	// nfctStates is how many of states nfct knows and prints: nfct 1.4.7
	// (libnetfilter_cttimeout 1.0.1) stops SCTP at SHUTDOWN_ACK_SENT.
	nfctStates int
}

var (
	tcpStates = []State{
		{"SYN_SENT", 1}, {"SYN_RECV", 2}, {"ESTABLISHED", 3}, {"FIN_WAIT", 4},
		{"CLOSE_WAIT", 5}, {"LAST_ACK", 6}, {"TIME_WAIT", 7}, {"CLOSE", 8},
		{"SYN_SENT2", 9}, {"RETRANS", 10}, {"UNACKNOWLEDGED", 11},
	}
	// udp, udplite and gre share the two states and their attribute numbers.
	udpStates     = []State{{"UNREPLIED", 1}, {"REPLIED", 2}}
	timeoutStates = []State{{"TIMEOUT", 1}}
	sctpStates    = []State{
		{"CLOSED", 1}, {"COOKIE_WAIT", 2}, {"COOKIE_ECHOED", 3}, {"ESTABLISHED", 4},
		{"SHUTDOWN_SENT", 5}, {"SHUTDOWN_RECD", 6}, {"SHUTDOWN_ACK_SENT", 7},
		// The kernel has it, nfct does not (CTA_TIMEOUT_SCTP_HEARTBEAT_ACKED,
		// 9, is no longer used and left out).
		{"HEARTBEAT_SENT", 8},
	}
	dccpStates = []State{
		{"REQUEST", 1}, {"RESPOND", 2}, {"PARTOPEN", 3}, {"OPEN", 4},
		{"CLOSEREQ", 5}, {"CLOSING", 6}, {"TIMEWAIT", 7},
	}
)

// maxAttr is the highest state attribute number of any protocol (TCP's
// UNACKNOWLEDGED).
const maxAttr = 11

var protocols = []protocol{
	{unix.IPPROTO_TCP, tcpStates, len(tcpStates)},
	{unix.IPPROTO_UDP, udpStates, len(udpStates)},
	{unix.IPPROTO_UDPLITE, udpStates, len(udpStates)},
	{unix.IPPROTO_ICMP, timeoutStates, 1},
	{unix.IPPROTO_ICMPV6, timeoutStates, 1},
	{unix.IPPROTO_SCTP, sctpStates, 7},
	{unix.IPPROTO_DCCP, dccpStates, len(dccpStates)},
	{unix.IPPROTO_GRE, udpStates, len(udpStates)},
	{ProtoGeneric, timeoutStates, 1},
}

// ProtoGeneric is the generic tracker's protocol number in cttimeout
// (IPPROTO_RAW), the one nfct calls "generic".
const ProtoGeneric = unix.IPPROTO_RAW

func lookupProto(p uint8) *protocol {
	for i := range protocols {
		if protocols[i].num == p {
			return &protocols[i]
		}
	}
	return nil
}

// ProtoNames are the protocols timeout policies exist for, as the commands
// take them.
const ProtoNames = "tcp, udp, udplite, icmp, icmpv6, sctp, dccp, gre or generic"

// ParseProto reads a protocol word (name or number) and checks that the
// kernel keeps timeout policies for it.
func ParseProto(s string) (uint8, error) {
	p, err := ctnl.ParseProto(s)
	if err != nil || lookupProto(p) == nil {
		return 0, fmt.Errorf("no timeout states for protocol %q: want %s", s, ProtoNames)
	}
	return p, nil
}

// States are the protocol's timeout states in attribute order, or nil for a
// protocol without timeout policies.
func States(proto uint8) []State {
	if p := lookupProto(proto); p != nil {
		return p.states
	}
	return nil
}

// NfctStates are the states nfct prints for the protocol, in its order.
func NfctStates(proto uint8) []State {
	p := lookupProto(proto)
	if p == nil {
		// libnetfilter_cttimeout prints an unknown protocol as generic.
		p = lookupProto(ProtoGeneric)
	}
	return p.states[:p.nfctStates]
}

// StateAttr finds a state by name, case-insensitively.
func StateAttr(proto uint8, name string) (uint16, error) {
	p := lookupProto(proto)
	if p == nil {
		return 0, fmt.Errorf("no timeout states for protocol %s: want %s", ctnl.ProtoName(proto), ProtoNames)
	}
	for _, s := range p.states {
		if strings.EqualFold(s.Name, name) {
			return s.Attr, nil
		}
	}
	names := make([]string, len(p.states))
	for i, s := range p.states {
		names[i] = strings.ToLower(s.Name)
	}
	return 0, fmt.Errorf("unknown %s state %q: want one of %s", protoName(proto), name, strings.Join(names, ", "))
}

// StateName is the name of a state attribute, or "STATE<n>" for one this
// package does not know.
func StateName(proto uint8, attr uint16) string {
	for _, s := range States(proto) {
		if s.Attr == attr {
			return s.Name
		}
	}
	return "STATE" + strconv.Itoa(int(attr))
}

func protoName(p uint8) string {
	if p == ProtoGeneric {
		return "generic"
	}
	return ctnl.ProtoName(p)
}

// ProtoName is the protocol's name as the commands take it (generic for
// IPPROTO_RAW).
func ProtoName(p uint8) string { return protoName(p) }

// Timeouts are one protocol tracker's timeout values in seconds, indexed by
// state attribute number. Only the states set are sent to the kernel; the
// kernel fills the others of a new policy from the namespace's defaults.
// The zero value is empty and ready to use.
type Timeouts struct {
	secs [maxAttr + 1]uint32
	set  uint16 // bit n: attribute n is set
}

// Set sets a state's value; attributes beyond the known range are ignored.
func (t *Timeouts) Set(attr uint16, secs uint32) {
	if attr == 0 || attr > maxAttr {
		return
	}
	t.secs[attr] = secs
	t.set |= 1 << attr
}

// Get returns a state's value and whether it is set.
func (t Timeouts) Get(attr uint16) (uint32, bool) {
	if attr == 0 || attr > maxAttr || t.set&(1<<attr) == 0 {
		return 0, false
	}
	return t.secs[attr], true
}

// Len is the number of states set.
func (t Timeouts) Len() int {
	n := 0
	for a := uint16(1); a <= maxAttr; a++ {
		if t.set&(1<<a) != 0 {
			n++
		}
	}
	return n
}

// Merge sets every state that u sets.
func (t *Timeouts) Merge(u Timeouts) {
	for a := uint16(1); a <= maxAttr; a++ {
		if v, ok := u.Get(a); ok {
			t.Set(a, v)
		}
	}
}

// MaxSeconds is the largest timeout accepted: the kernel keeps timeouts in
// jiffies in 32 bits, so larger values would wrap on kernels with HZ=1000.
const MaxSeconds = 4294967 // (1<<32 - 1) / 1000, about 49.7 days

// Setting is one STATE SECS pair from the command line, not yet checked
// against a protocol.
type Setting struct {
	State   string
	Seconds uint32
}

// ErrUsage marks errors in the words a user gave (exit status 2 in gonfct).
var ErrUsage = errors.New("usage")

type usageError struct{ msg string }

func (e *usageError) Error() string        { return e.msg }
func (e *usageError) Is(target error) bool { return target == ErrUsage }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// ParseSettings reads STATE SECS [STATE SECS ...] words. Seconds are a
// plain number or one with a unit: 30s, 5m, 12h, 5d.
func ParseSettings(words []string) ([]Setting, error) {
	if len(words) == 0 {
		return nil, usagef("missing timeouts: give STATE SECS pairs, e.g. established 3600")
	}
	if len(words)%2 != 0 {
		return nil, usagef("missing value for timeout state %q: give STATE SECS pairs", words[len(words)-1])
	}
	out := make([]Setting, 0, len(words)/2)
	for i := 0; i < len(words); i += 2 {
		secs, err := ParseSeconds(words[i+1])
		if err != nil {
			return nil, usagef("timeout state %s: %v", words[i], err)
		}
		out = append(out, Setting{State: words[i], Seconds: secs})
	}
	return out, nil
}

// ParseSeconds reads a duration in whole seconds: a number of seconds
// (300), or numbers with the units d, h, m and s, largest first (300s, 5m,
// 1h30m, 2d). Every gonfct duration goes through it, so that what one
// command takes, all take; listings print durations in the same form.
func ParseSeconds(s string) (uint32, error) {
	total, ok := parseUnits(s)
	if !ok || total > MaxSeconds {
		return 0, fmt.Errorf("bad timeout %q: want seconds from 0 to %d, or with units such as 300s, 5m, 1h30m, 2d", s, MaxSeconds)
	}
	return uint32(total), nil
}

// AppendDuration writes seconds as ParseSeconds reads them: 5d, 1h30m,
// 2m5s, 0s.
func AppendDuration(b []byte, secs uint32) []byte {
	if secs == 0 {
		return append(b, "0s"...)
	}
	for _, u := range [...]struct {
		n    uint32
		unit byte
	}{{86400, 'd'}, {3600, 'h'}, {60, 'm'}, {1, 's'}} {
		if secs >= u.n {
			b = strconv.AppendUint(b, uint64(secs/u.n), 10)
			b = append(b, u.unit)
			secs %= u.n
		}
	}
	return b
}

// parseUnits sums "1h30m"-style text; a bare number is seconds and must
// stand alone. Allocation-free; false for anything else.
func parseUnits(s string) (uint64, bool) {
	if s == "" {
		return 0, false
	}
	var total uint64
	last := uint64(1 << 62) // each unit must be smaller than the one before
	for len(s) > 0 {
		i := 0
		var n uint64
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			n = n*10 + uint64(s[i]-'0')
			if n > MaxSeconds {
				return 0, false
			}
			i++
		}
		if i == 0 {
			return 0, false
		}
		if i == len(s) {
			// A bare number: seconds, the whole text.
			if total != 0 || last != 1<<62 {
				return 0, false
			}
			return n, true
		}
		var mult uint64
		switch s[i] {
		case 'd':
			mult = 86400
		case 'h':
			mult = 3600
		case 'm':
			mult = 60
		case 's':
			mult = 1
		default:
			return 0, false
		}
		if mult >= last {
			return 0, false
		}
		last = mult
		total += n * mult
		if total > MaxSeconds {
			return 0, false
		}
		s = s[i+1:]
	}
	return total, true
}

// Resolve checks settings against a protocol's states and turns them into
// Timeouts. A state given twice is an error, not a silent override.
func Resolve(proto uint8, settings []Setting) (Timeouts, error) {
	var t Timeouts
	for _, s := range settings {
		attr, err := StateAttr(proto, s.State)
		if err != nil {
			return t, &usageError{msg: err.Error()}
		}
		if _, dup := t.Get(attr); dup {
			return t, usagef("timeout state %s given twice", strings.ToLower(s.State))
		}
		t.Set(attr, s.Seconds)
	}
	return t, nil
}
