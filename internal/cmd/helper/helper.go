// Package helper is the `gonfct helper` command group: user-space helper
// objects (nfnetlink_cthelper) in nfct's words, and `helper test`, which
// replays a capture through a built-in parser offline.
package helper

import (
	"fmt"
	"github.com/gonfct/gonfct/pkg/cttimeout"
	"strconv"
	"strings"

	"github.com/gonfct/gonfct/internal/cli"
	"github.com/gonfct/gonfct/pkg/cthelper"
	"github.com/gonfct/gonfct/pkg/cthelper/builtin"
	"github.com/gonfct/gonfct/pkg/ctnl"
	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"
)

// NewCmdHelper makes the `helper` group.
func NewCmdHelper(env *cli.Env) *cobra.Command {
	g := cli.NewGroup("helper", "Manage user-space conntrack helpers (nfnetlink_cthelper), like nfct ... helper",
		NewCmdAdd(env, nil),
		NewCmdUpdate(env, nil),
		NewCmdStatus(env, cthelper.Enabled, nil),
		NewCmdStatus(env, cthelper.Disabled, nil),
		NewCmdGet(env, nil),
		NewCmdList(env, nil),
		NewCmdDelete(env, nil),
		NewCmdFlush(env, nil),
		NewCmdTest(env, nil),
	)
	g.Example = `  gonfct helper add ftp inet tcp --enable
  gonfct helper list -o table
  gonfct helper disable ftp inet tcp
  gonfct list helper                          # nfct word order`
	g.Long = `Manage user-space conntrack helper objects in the kernel (nfnetlink_cthelper).

A helper object tells the kernel to queue the packets of connections that a
ruleset assigns to it (iptables -j CT --helper NAME, nft "ct helper") to an
NFQUEUE, where "gonfct run" parses them. Helpers are global to the kernel,
not per network namespace, and need CAP_NET_ADMIN.

Built-in helpers (defaults for policy, private data and port):
` + builtinSummary()
	return g
}

func builtinSummary() string {
	var b strings.Builder
	for _, n := range builtin.Registry.Names() {
		s, _ := builtin.Registry.Lookup(n)
		protos := make([]string, len(s.Protos))
		for i, p := range s.Protos {
			protos[i] = ctnl.ProtoName(p)
		}
		fmt.Fprintf(&b, "  %-7s %-7s policy=%s priv-len=%d  %s\n", n, strings.Join(protos, ","), formatPolicies(s.Policies), s.PrivLen, s.Doc)
	}
	return b.String()
}

// key is the NAME FAMILY PROTO triple every per-helper command takes.
type key struct {
	Name   string
	Family uint8
	Proto  uint8
}

// parseKey reads NAME [FAMILY [PROTO]]; need says how many words are
// required (1 or 3).
func parseKey(args []string) (key, error) {
	var k key
	if err := cthelper.ValidateName("helper", args[0]); err != nil {
		return k, cli.Usage(err)
	}
	k.Name = args[0]
	if len(args) > 1 {
		f, err := ctnl.ParseFamily(args[1])
		if err != nil {
			return k, cli.Usage(err)
		}
		k.Family = f
	}
	if len(args) > 2 {
		switch strings.ToLower(args[2]) {
		case "tcp":
			k.Proto = unix.IPPROTO_TCP
		case "udp":
			k.Proto = unix.IPPROTO_UDP
		default:
			return k, cli.Usagef("unsupported protocol %q: user-space helpers take tcp or udp", args[2])
		}
	}
	return k, nil
}

// parsePolicy reads NAME[:EXPECTMAX[:TIMEOUT]]; an empty or missing field
// keeps the value of base, the helper's default policy of that name.
func parsePolicy(s string, defaults []cthelper.Policy) (cthelper.Policy, error) {
	parts := strings.Split(s, ":")
	if len(parts) > 3 || parts[0] == "" {
		return cthelper.Policy{}, fmt.Errorf("bad --policy %q: want NAME:EXPECTMAX:TIMEOUT (e.g. rpc:1:300)", s)
	}
	p := cthelper.Policy{Name: parts[0]}
	base, haveBase := cthelper.Policy{}, false
	for _, d := range defaults {
		if d.Name == p.Name {
			base, haveBase = d, true
		}
	}
	field := func(i int, what string, limit uint64, dst *uint32, def uint32) error {
		if i >= len(parts) || parts[i] == "" {
			if !haveBase {
				return fmt.Errorf("--policy %q lacks %s and %q has no default: give NAME:EXPECTMAX:TIMEOUT", s, what, p.Name)
			}
			*dst = def
			return nil
		}
		if what == "TIMEOUT" {
			// A duration like every other: 300, 300s, 5m.
			n, err := cttimeout.ParseSeconds(parts[i])
			if err != nil {
				return fmt.Errorf("--policy %q: %v", s, err)
			}
			*dst = n
			return nil
		}
		n, err := strconv.ParseUint(parts[i], 10, 32)
		if err != nil || n > limit {
			return fmt.Errorf("bad %s %q in --policy %q: want a number from 0 to %d", what, parts[i], s, limit)
		}
		*dst = uint32(n)
		return nil
	}
	if err := field(1, "EXPECTMAX", cthelper.MaxExpectLimit, &p.ExpectMax, base.ExpectMax); err != nil {
		return p, err
	}
	if err := field(2, "TIMEOUT", 1<<31-1, &p.ExpectTimeout, base.ExpectTimeout); err != nil {
		return p, err
	}
	return p, cthelper.ValidateName("policy", p.Name)
}

func formatPolicies(ps []cthelper.Policy) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = fmt.Sprintf("%s:%d:%d", p.Name, p.ExpectMax, p.ExpectTimeout)
	}
	return strings.Join(s, ",")
}

// client dials and wraps a cthelper client.
func client(env *cli.Env) (*cthelper.Client, func(), error) {
	c, err := env.Conn()
	if err != nil {
		return nil, nil, err
	}
	return cthelper.NewClient(c), func() { c.Close() }, nil
}

// adviseNotFound says where to look when the helper named is not there.
func adviseNotFound(err error) error {
	return cli.AdviseOn(err, ctnl.ErrNotFound, "see `gonfct helper list`")
}
