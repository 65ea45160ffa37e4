// Package timeout is the `gonfct timeout` command group: conntrack timeout
// policies and protocol defaults (nfnetlink_cttimeout) in nfct's words.
package timeout

import (
	"encoding/json"
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
	s := env.Output
	if s == "" {
		s = string(output.Text)
	}
	_, err := output.ParseFormat(s, output.Nfct)
	return cli.Usage(err)
}

// ---- add ----

type AddOptions struct {
	Env    *cli.Env
	Policy cttimeout.Policy
}

const addUse = "add NAME inet|inet6 PROTO STATE SECS [STATE SECS ...]"

func NewCmdAdd(env *cli.Env, runF func(*AddOptions) error) *cobra.Command {
	return &cobra.Command{
		Use:   addUse,
		Short: "Create a timeout policy (nfct add timeout); states not given take the current defaults",
		Example: `  gonfct timeout add web inet tcp established 3600 close_wait 30
  gonfct timeout add dns inet6 udp unreplied 5 replied 10
  gonfct add timeout web inet tcp ESTABLISHED 3600      # nfct word order`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) < 5 {
				return cli.Usagef("missing parameters: usage: gonfct timeout %s", addUse)
			}
			if err := cttimeout.CheckName(args[0]); err != nil {
				return asUsage(err)
			}
			f, p, err := parseKey(args[1], args[2])
			if err != nil {
				return err
			}
			t, err := parseTimeouts(p, args[3:])
			if err != nil {
				return err
			}
			opts := &AddOptions{Env: env, Policy: cttimeout.Policy{Name: args[0], Family: f, Proto: p, Timeouts: t}}
			if runF != nil {
				return runF(opts)
			}
			return addRun(opts)
		},
	}
}

func addRun(o *AddOptions) error {
	c, err := o.Env.Conn()
	if err != nil {
		return err
	}
	defer c.Close()
	return asUsage(cttimeout.Add(c, o.Policy))
}

// ---- update ----

type UpdateOptions struct {
	Env  *cli.Env
	Name string
	// Family and Proto are 0 when not given: the policy's own.
	Family, Proto uint8
	Settings      []cttimeout.Setting
}

const updateUse = "update NAME [inet|inet6 PROTO] STATE SECS [STATE SECS ...]"

func NewCmdUpdate(env *cli.Env, runF func(*UpdateOptions) error) *cobra.Command {
	return &cobra.Command{
		Use:   updateUse,
		Short: "Change some timeouts of an existing policy in place, keeping the others",
		Long: `Change some timeouts of an existing policy in place, keeping the others.

The policy keeps its name, so rules that use it (CT --timeout) and their
connections see the new values at once. Its family and protocol cannot
change; given, they must be the policy's (as in the add command line).`,
		Example: `  gonfct timeout update web established 7200
  gonfct timeout update web inet tcp established 7200 close 5`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) < 3 {
				return cli.Usagef("missing parameters: usage: gonfct timeout %s", updateUse)
			}
			if err := cttimeout.CheckName(args[0]); err != nil {
				return asUsage(err)
			}
			opts := &UpdateOptions{Env: env, Name: args[0]}
			words := args[1:]
			if _, err := ctnl.ParseFamily(args[1]); err == nil {
				if len(args) < 5 {
					return cli.Usagef("missing parameters: usage: gonfct timeout %s", updateUse)
				}
				f, p, err := parseKey(args[1], args[2])
				if err != nil {
					return err
				}
				opts.Family, opts.Proto, words = f, p, args[3:]
			}
			s, err := cttimeout.ParseSettings(words)
			if err != nil {
				return asUsage(err)
			}
			if opts.Proto != 0 {
				// Check the states now when the protocol is known; else
				// after reading the policy, still before writing.
				if _, err := cttimeout.Resolve(opts.Proto, s); err != nil {
					return asUsage(err)
				}
			}
			opts.Settings = s
			if runF != nil {
				return runF(opts)
			}
			return updateRun(opts)
		},
	}
}

func updateRun(o *UpdateOptions) error {
	c, err := o.Env.Conn()
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = cttimeout.Update(c, o.Name, o.Family, o.Proto, o.Settings)
	return asUsage(err)
}

// ---- get / list / default-get: what they print ----

// record prints a policy, or a protocol's defaults, in every format.
type record struct {
	p        cttimeout.Policy
	defaults bool
}

var (
	columns        = []string{"NAME", "FAMILY", "PROTO", "USE", "TIMEOUTS"}
	defaultColumns = []string{"FAMILY", "PROTO", "TIMEOUTS"}
)

// states are the policy's known states that the kernel reported.
func (r record) states(fn func(name string, secs uint32)) {
	for _, s := range cttimeout.States(r.p.Proto) {
		if v, ok := r.p.Timeouts.Get(s.Attr); ok {
			fn(strings.ToLower(s.Name), v)
		}
	}
}

// AppendText is a block per policy: a head line, then a state a line with
// its seconds and, from a minute up, the same as a duration.
//
//	web inet tcp use 1
//	  syn_sent                 5
//	  established         432000  5d
func (r record) AppendText(b []byte) []byte {
	if r.defaults {
		b = append(b, "defaults "...)
	} else {
		b = append(b, r.p.Name...)
		b = append(b, ' ')
	}
	b = append(b, ctnl.FamilyName(r.p.Family)...)
	b = append(b, ' ')
	b = append(b, cttimeout.ProtoName(r.p.Proto)...)
	if !r.defaults {
		b = append(b, " use "...)
		b = strconv.AppendUint(b, uint64(r.p.Use), 10)
	}
	b = append(b, '\n')
	r.states(func(name string, secs uint32) {
		start := len(b)
		b = append(b, "  "...)
		b = append(b, name...)
		num := strconv.AppendUint(nil, uint64(secs), 10)
		for len(b)-start+len(num) < 28 {
			b = append(b, ' ')
		}
		b = append(b, num...)
		if secs >= 60 {
			b = append(b, "  "...)
			b = appendDuration(b, secs)
		}
		b = append(b, '\n')
	})
	return b
}

// appendDuration writes seconds as 5d, 1h30m, 2m5s.
func appendDuration(b []byte, secs uint32) []byte {
	for _, u := range []struct {
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

func (r record) timeoutsCell() string {
	var parts []string
	r.states(func(name string, secs uint32) { parts = append(parts, name+"="+strconv.FormatUint(uint64(secs), 10)) })
	return strings.Join(parts, " ")
}

func (r record) Row() []string {
	fam, proto := ctnl.FamilyName(r.p.Family), cttimeout.ProtoName(r.p.Proto)
	if r.defaults {
		return []string{fam, proto, r.timeoutsCell()}
	}
	return []string{r.p.Name, fam, proto, strconv.FormatUint(uint64(r.p.Use), 10), r.timeoutsCell()}
}

// MarshalJSON writes the documented fields (docs/json.md, "timeout"), the
// timeouts in the kernel's state order.
func (r record) MarshalJSON() ([]byte, error) {
	b := []byte{'{'}
	if !r.defaults {
		b = append(b, `"name":`...)
		name, err := json.Marshal(r.p.Name)
		if err != nil {
			return nil, err
		}
		b = append(b, name...)
		b = append(b, ',')
	}
	b = fmt.Appendf(b, `"family":%q,"protocol":%q,"l3proto":%d,"l4proto":%d,`,
		ctnl.FamilyName(r.p.Family), cttimeout.ProtoName(r.p.Proto), r.p.Family, r.p.Proto)
	if !r.defaults {
		b = fmt.Appendf(b, `"use":%d,`, r.p.Use)
	}
	b = append(b, `"timeouts":{`...)
	first := true
	r.states(func(name string, secs uint32) {
		if !first {
			b = append(b, ',')
		}
		first = false
		b = fmt.Appendf(b, "%q:%d", name, secs)
	})
	return append(b, "}}"...), nil
}

// AppendFormat serves -o nfct: nfct's list/get/default-get output.
func (r record) AppendFormat(f output.Format, b []byte) []byte {
	return cttimeout.AppendNfct(b, r.p)
}

type GetOptions struct {
	Env  *cli.Env
	Name string // empty for list
}

func NewCmdGet(env *cli.Env, runF func(*GetOptions) error) *cobra.Command {
	return &cobra.Command{
		Use:   "get NAME",
		Short: "Show one timeout policy (-o text|table|json|nfct)",
		Example: `  gonfct timeout get web
  gonfct timeout get web -o json
  gonfct get timeout web                      # nfct word order`,
		Args: cli.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := cttimeout.CheckName(args[0]); err != nil {
				return asUsage(err)
			}
			if err := checkFormat(env); err != nil {
				return err
			}
			opts := &GetOptions{Env: env, Name: args[0]}
			if runF != nil {
				return runF(opts)
			}
			return getRun(opts)
		},
	}
}

func NewCmdList(env *cli.Env, runF func(*GetOptions) error) *cobra.Command {
	return &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "Show every timeout policy of the namespace (-o text|table|json|nfct)",
		Example: `  gonfct timeout list
  gonfct timeout list -o table
  gonfct --netns fw1 timeout list -o nfct`,
		Args: cli.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkFormat(env); err != nil {
				return err
			}
			opts := &GetOptions{Env: env}
			if runF != nil {
				return runF(opts)
			}
			return getRun(opts)
		},
	}
}

func getRun(o *GetOptions) error {
	mode := output.List
	if o.Name != "" {
		mode = output.Single
	}
	w, err := o.Env.Writer(mode, columns, output.Nfct)
	if err != nil {
		return err
	}
	c, err := o.Env.Conn()
	if err != nil {
		return err
	}
	defer c.Close()
	if o.Name != "" {
		p, err := cttimeout.Get(c, o.Name)
		if err != nil {
			return asUsage(err)
		}
		if err := w.Write(record{p: p}); err != nil {
			return err
		}
		return w.Close()
	}
	if err := cttimeout.List(c, func(p cttimeout.Policy) error { return w.Write(record{p: p}) }); err != nil {
		return err
	}
	return w.Close()
}

// ---- delete / flush ----

type DeleteOptions struct {
	Env  *cli.Env
	Name string // empty for flush
}

func NewCmdDelete(env *cli.Env, runF func(*DeleteOptions) error) *cobra.Command {
	return &cobra.Command{
		Use:     "delete NAME",
		Aliases: []string{"del"},
		Short:   "Delete a timeout policy no rule uses (nfct delete timeout)",
		Example: `  gonfct timeout delete web
  gonfct delete timeout web                   # nfct word order`,
		Args: cli.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := cttimeout.CheckName(args[0]); err != nil {
				return asUsage(err)
			}
			opts := &DeleteOptions{Env: env, Name: args[0]}
			if runF != nil {
				return runF(opts)
			}
			return deleteRun(opts)
		},
	}
}

func NewCmdFlush(env *cli.Env, runF func(*DeleteOptions) error) *cobra.Command {
	return &cobra.Command{
		Use:   "flush",
		Short: "Delete every timeout policy of the namespace that no rule uses",
		Example: `  gonfct timeout flush
  gonfct flush timeout                        # nfct word order`,
		Long: `Delete every timeout policy of the namespace that no rule uses.

The kernel skips policies in use without a word (nfct flush timeout exits
0); gonfct names them and exits 1.`,
		Args: cli.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts := &DeleteOptions{Env: env}
			if runF != nil {
				return runF(opts)
			}
			return deleteRun(opts)
		},
	}
}

func deleteRun(o *DeleteOptions) error {
	c, err := o.Env.Conn()
	if err != nil {
		return err
	}
	defer c.Close()
	if o.Name != "" {
		return asUsage(cttimeout.Delete(c, o.Name))
	}
	kept, err := cttimeout.Flush(c)
	if err != nil {
		return err
	}
	if len(kept) > 0 {
		return &ctnl.Error{Op: "flush timeout policies", Err: unix.EBUSY,
			Hint: fmt.Sprintf("kept %d in use by rules (-j CT --timeout): %s; remove those rules first", len(kept), strings.Join(kept, ", "))}
	}
	return nil
}

// ---- default-get / default-set ----

type DefaultOptions struct {
	Env           *cli.Env
	Family, Proto uint8
	Timeouts      cttimeout.Timeouts // default-set only
}

func NewCmdDefaultGet(env *cli.Env, runF func(*DefaultOptions) error) *cobra.Command {
	return &cobra.Command{
		Use:   "default-get inet|inet6 PROTO",
		Short: "Show a protocol's default timeouts in the namespace (-o text|table|json|nfct)",
		Example: `  gonfct timeout default-get inet tcp
  gonfct timeout default-get inet6 udp -o json
  gonfct default-get timeout inet tcp         # nfct word order`,
		Args: cli.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, p, err := parseKey(args[0], args[1])
			if err != nil {
				return err
			}
			if err := checkFormat(env); err != nil {
				return err
			}
			opts := &DefaultOptions{Env: env, Family: f, Proto: p}
			if runF != nil {
				return runF(opts)
			}
			return defaultGetRun(opts)
		},
	}
}

func defaultGetRun(o *DefaultOptions) error {
	w, err := o.Env.Writer(output.Single, defaultColumns, output.Nfct)
	if err != nil {
		return err
	}
	c, err := o.Env.Conn()
	if err != nil {
		return err
	}
	defer c.Close()
	p, err := cttimeout.DefaultGet(c, o.Family, o.Proto)
	if err != nil {
		return asUsage(err)
	}
	if err := w.Write(record{p: p, defaults: true}); err != nil {
		return err
	}
	return w.Close()
}

const defaultSetUse = "default-set inet|inet6 PROTO STATE SECS [STATE SECS ...]"

func NewCmdDefaultSet(env *cli.Env, runF func(*DefaultOptions) error) *cobra.Command {
	return &cobra.Command{
		Use:   defaultSetUse,
		Short: "Change some of a protocol's default timeouts in the namespace (nfct default-set timeout)",
		Long: `Change some of a protocol's default timeouts in the namespace; the others
keep their values. The defaults are the namespace's
net.netfilter.nf_conntrack_*_timeout* sysctls and apply to both families;
udplite shares udp's.`,
		Example: `  gonfct timeout default-set inet tcp established 3600
  gonfct default-set timeout inet udp unreplied 10 replied 60      # nfct word order`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) < 4 {
				return cli.Usagef("missing parameters: usage: gonfct timeout %s", defaultSetUse)
			}
			f, p, err := parseKey(args[0], args[1])
			if err != nil {
				return err
			}
			t, err := parseTimeouts(p, args[2:])
			if err != nil {
				return err
			}
			opts := &DefaultOptions{Env: env, Family: f, Proto: p, Timeouts: t}
			if runF != nil {
				return runF(opts)
			}
			c, err := env.Conn()
			if err != nil {
				return err
			}
			defer c.Close()
			return asUsage(cttimeout.DefaultSet(c, f, p, t))
		},
	}
}
