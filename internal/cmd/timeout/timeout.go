// Package timeout is the `gonfct timeout` command group: conntrack timeout
// policies and protocol defaults (nfnetlink_cttimeout) in nfct's words.
package timeout

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/gonfct/gonfct/internal/cli"
	"github.com/gonfct/gonfct/internal/output"
	"github.com/gonfct/gonfct/pkg/ctnl"
	"github.com/gonfct/gonfct/pkg/cttimeout"
	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"
)

// NewCmdTimeout makes the `timeout` group.
func NewCmdTimeout(env *cli.Env) *cobra.Command {
	g := cli.NewGroup("timeout", "Manage conntrack timeout policies (cttimeout), like nfct ... timeout",
		NewCmdAdd(env, nil),
		NewCmdUpdate(env, nil),
		NewCmdGet(env, nil),
		NewCmdList(env, nil),
		NewCmdDelete(env, nil),
		NewCmdFlush(env, nil),
		NewCmdDefaultGet(env, nil),
		NewCmdDefaultSet(env, nil),
	)
	g.Example = `  gonfct timeout add web inet tcp established 3600
  iptables -t raw -A PREROUTING -p tcp --dport 80 -j CT --timeout web
  gonfct timeout list -o table
  gonfct list timeout                         # nfct word order`
	g.Long = `Manage conntrack timeout policies (nfnetlink_cttimeout).

A timeout policy is a named set of per-state timeouts for one protocol that
rules attach to connections (iptables -t raw ... -j CT --timeout NAME); the
defaults are what every other connection of the protocol gets. Both live in
a network namespace (--netns) and need CAP_NET_ADMIN. nft's "ct timeout"
objects are a different thing, kept by nf_tables.

Timeouts are seconds, or a number with s, m, h or d (at most ` + strconv.Itoa(cttimeout.MaxSeconds) + `s).
States, case-insensitive, by protocol:
` + stateSummary() + `
-o nfct prints nfct's own format, byte for byte, for scripts that parse it.
nfct's word order works too: "gonfct add timeout NAME inet tcp ESTABLISHED 100".`
	return g
}

var protos = []uint8{unix.IPPROTO_TCP, unix.IPPROTO_UDP, unix.IPPROTO_UDPLITE, unix.IPPROTO_ICMP,
	unix.IPPROTO_ICMPV6, unix.IPPROTO_SCTP, unix.IPPROTO_DCCP, unix.IPPROTO_GRE, cttimeout.ProtoGeneric}

func stateSummary() string {
	var b strings.Builder
	for _, p := range protos {
		names := make([]string, 0, 11)
		for _, s := range cttimeout.States(p) {
			names = append(names, strings.ToLower(s.Name))
		}
		fmt.Fprintf(&b, "  %-8s %s\n", cttimeout.ProtoName(p), strings.Join(names, " "))
	}
	return b.String()
}

// asUsage turns the package's input errors into usage errors (exit 2).
func asUsage(err error) error {
	if errors.Is(err, cttimeout.ErrUsage) {
		return cli.Usage(err)
	}
	return err
}

// parseKey reads FAMILY PROTO.
func parseKey(fam, proto string) (uint8, uint8, error) {
	f, err := ctnl.ParseFamily(fam)
	if err != nil {
		return 0, 0, cli.Usage(err)
	}
	p, err := cttimeout.ParseProto(proto)
	if err != nil {
		return 0, 0, cli.Usage(err)
	}
	return f, p, nil
}

// parseTimeouts reads STATE SECS pairs against a protocol.
func parseTimeouts(proto uint8, words []string) (cttimeout.Timeouts, error) {
	s, err := cttimeout.ParseSettings(words)
	if err != nil {
		return cttimeout.Timeouts{}, asUsage(err)
	}
	t, err := cttimeout.Resolve(proto, s)
	return t, asUsage(err)
}

// checkFormat checks -o before anything is done, for the commands
// that print.
func checkFormat(env *cli.Env) error {
	_, err := env.Format(output.Nfct)
	return err
}

// adviseNotFound says where to look when the policy named is not there.
func adviseNotFound(err error) error {
	return cli.AdviseOn(err, ctnl.ErrNotFound, "see `gonfct timeout list`")
}
