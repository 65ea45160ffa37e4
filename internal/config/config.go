// Package config reads the helpers gonfct runs: the Helper section of a
// conntrackd.conf (unchanged files work; General, Sync and Stats are
// skipped with a notice) and the --helper command-line form. Everything is
// validated at load against the built-in helper table, and every error
// names its file:line:column and the fix.
//
// The grammar, as conntrackd reads it:
//
//	Helper {
//		Setup yes|no
//		Netns NAME|PATH|DIR     # gonfct only, repeatable: a namespace to serve
//		Type NAME inet|inet6 tcp|udp {
//			QueueNum N          # default 0
//			QueueLen N          # default 0: the kernel's (1024)
//			Policy NAME {       # NAME is one of the helper's policies
//				ExpectMax N     # 0..255
//				ExpectTimeout N # seconds
//			}
//			Option KEY VALUE    # gonfct only: a parser option
//			Netns NAME          # gonfct only, repeatable: only there
//			Pattern "REGEX" {   # gonfct only: a helper of one's own
//				Direction original|reply|both
//				Expect tcp|udp
//				Lines yes|no
//			}
//		}
//	}
//
// Keywords are case-sensitive, as in conntrackd; booleans are yes, no, on
// or off in any case; '#' starts a comment; line ends are white space.
//
// Where gonfct differs from conntrackd on purpose:
//   - A Policy block that sets only ExpectMax or only ExpectTimeout keeps
//     the helper's default for the other (conntrackd zeroes it, so its
//     expectations would expire at once).
//   - Type blocks of the same helper for inet and inet6 have their own
//     policies (conntrackd shares one, the last parsed wins).
//   - A duplicate QueueNum, a duplicate Type, QueueNum above 65535 and
//     ExpectMax above 255 are refused at load (conntrackd accepts them and
//     misbehaves, or fails in the kernel).
//   - "Option KEY VALUE" inside a Type block sets a parser option (for
//     example "Option loose yes" for ftp). conntrackd does not know it, so
//     a file using it is gonfct's own; files without it stay valid for
//     both.
//   - "Netns" in the Helper section names a network namespace to serve
//     (a name from `ip netns`, a namespace file such as /proc/PID/ns/net,
//     or a directory whose every namespace is served, such as /run/netns);
//     none: the namespace gonfct runs in. "Netns" in a Type block serves
//     that helper only in the namespaces it names; the same helper may
//     then be declared again for other namespaces, with other Options, but
//     with the same QueueNum and policies: the kernel has one helper
//     object for every namespace. conntrackd knows neither.
//   - A Type block with Pattern blocks declares a helper that is not
//     built in: the patterns describe its protocol (see pattern.go and
//     pkg/cthelper/pattern). conntrackd has no such thing.
package config

import (
	"errors"
	"fmt"
	"io"
	"os"
	"slices"

	"github.com/gonfct/gonfct/pkg/cthelper"
	"github.com/gonfct/gonfct/pkg/cthelper/builtin"
	"github.com/gonfct/gonfct/pkg/cthelper/pattern"
	"golang.org/x/sys/unix"
)

// Config is what a file declares.
type Config struct {
	Helpers []Helper
	// Setup is conntrackd's "Setup yes|no" (default no: conntrackd then
	// expects the helper objects to exist already, made by nfct).
	Setup    bool
	HasSetup bool
	// Netns are the namespaces to serve, as the Helper section's Netns
	// lines give them; NetnsPos says where each one is.
	Netns    []string
	NetnsPos []Position
	// Notices are the things that were skipped, one line each, with their
	// position ("conntrackd.conf:3:1: Sync section ignored: ...").
	Notices []string
}

// Helper is one helper to run: a Type block or a --helper flag, with the
// built-in defaults merged in.
type Helper struct {
	Name   string
	Family uint8 // AF_INET or AF_INET6
	Proto  uint8 // IPPROTO_TCP or IPPROTO_UDP
	// QueueNum is the NFQUEUE number the kernel sends the packets to.
	QueueNum uint32
	// QueueLen is the queue's maximum length; 0 keeps the kernel default.
	QueueLen uint32
	// Policies are the built-in ones, with the configured values over them.
	Policies []cthelper.Policy
	PrivLen  uint32
	// Options are the parser's options; never nil.
	Options cthelper.Options
	// Netns restricts the helper to these namespaces; empty: everywhere
	// the engine serves.
	Netns []string
	// Spec is the built-in helper, or the pattern helper the Patterns make
	// (Spec.NewParser builds the parser).
	Spec *cthelper.Spec
	// Patterns are a pattern helper's rules (nil for a built-in helper).
	Patterns []pattern.Rule
	// Pos is where the helper was declared.
	Pos Position
}

// Object is the kernel helper object for h, as the cthelper client adds it.
func (h *Helper) Object() cthelper.Helper {
	return cthelper.Helper{
		Name:     h.Name,
		Family:   h.Family,
		Proto:    h.Proto,
		QueueNum: h.QueueNum,
		Policies: slices.Clone(h.Policies),
		PrivLen:  h.PrivLen,
		Status:   cthelper.Enabled,
	}
}

// NewParser builds h's protocol parser with its options; an error names
// the helper ("helper ftp: ...").
func (h *Helper) NewParser() (cthelper.Parser, error) {
	p, err := h.Spec.NewParser(h.Options)
	if err != nil {
		return nil, errors.New(helperMsg(h.Name, err))
	}
	return p, nil
}

// Load reads a conntrackd.conf-style file, checked against the built-in
// helpers.
func Load(path string) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	defer f.Close()
	return Parse(path, f)
}

// Parse reads a config from r; name is used in positions.
func Parse(name string, r io.Reader) (*Config, error) {
	return ParseWith(builtin.Registry, name, r)
}

// maxFileSize bounds what Parse reads: a helper config is a few KiB.
const maxFileSize = 1 << 20

// ParseWith is Parse against another table of helpers.
func ParseWith(reg *cthelper.Registry, name string, r io.Reader) (*Config, error) {
	src, err := io.ReadAll(io.LimitReader(r, maxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(src) > maxFileSize {
		return nil, fmt.Errorf("%s: larger than %d bytes: not a helper config", name, maxFileSize)
	}
	toks, err := lex(name, string(src))
	if err != nil {
		return nil, err
	}
	p := &parser{reg: reg, toks: toks, cfg: &Config{}}
	p.fail(p.file())
	return p.result()
}

// Add appends h to c, refusing a second helper with the same name, family
// and protocol (unless both are for namespaces apart, as one kernel
// object), or the same queue. The engine uses it to merge --helper flags
// into a file's helpers.
func (c *Config) Add(h Helper) error {
	for i := range c.Helpers {
		o := &c.Helpers[i]
		if o.Name == h.Name && o.Family == h.Family && o.Proto == h.Proto {
			if err := sameObject(&h, o); err != nil {
				return err
			}
			continue
		}
		if o.QueueNum == h.QueueNum {
			return errorf(h.Pos, "queue %d is already used by helper %s %s %s at %s: each helper needs its own QueueNum",
				h.QueueNum, o.Name, familyName(o.Family), protoName(o.Proto), o.Pos)
		}
	}
	c.Helpers = append(c.Helpers, h)
	return nil
}

// sameObject checks a helper declared again against its first
// declaration: both must be for namespaces apart, and agree on what the
// kernel keeps once for every namespace.
func sameObject(h, o *Helper) error {
	key := fmt.Sprintf("%s %s %s", h.Name, familyName(h.Family), protoName(h.Proto))
	if len(h.Netns) == 0 || len(o.Netns) == 0 {
		return errorf(h.Pos, "helper %s is declared twice (first at %s): keep one, or give each its own Netns", key, o.Pos)
	}
	for _, n := range h.Netns {
		if slices.Contains(o.Netns, n) {
			return errorf(h.Pos, "helper %s is declared twice for namespace %s (first at %s): keep one", key, n, o.Pos)
		}
	}
	if h.QueueNum != o.QueueNum {
		return errorf(h.Pos, "helper %s has QueueNum %d here and %d at %s: the kernel keeps one queue number per helper, "+
			"for every namespace: give both the same QueueNum", key, h.QueueNum, o.QueueNum, o.Pos)
	}
	if !slices.Equal(h.Policies, o.Policies) {
		return errorf(h.Pos, "helper %s has other policies here than at %s: the kernel keeps one helper object, "+
			"for every namespace: give both the same Policy blocks", key, o.Pos)
	}
	if h.QueueLen != o.QueueLen {
		return errorf(h.Pos, "helper %s has QueueLen %d here and %d at %s: give both the same", key, h.QueueLen, o.QueueLen, o.Pos)
	}
	return nil
}

func familyName(f uint8) string {
	if f == unix.AF_INET6 {
		return "inet6"
	}
	return "inet"
}

func protoName(p uint8) string {
	if p == unix.IPPROTO_UDP {
		return "udp"
	}
	return "tcp"
}
