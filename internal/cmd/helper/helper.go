// Package helper is the `gonfct helper` command group: user-space helper
// objects (nfnetlink_cthelper) in nfct's words, and `helper test`, which
// replays a capture through a built-in parser offline.
package helper

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/gonfct/gonfct/internal/cli"
	"github.com/gonfct/gonfct/internal/output"
	"github.com/gonfct/gonfct/pkg/cthelper"
	"github.com/gonfct/gonfct/pkg/cthelper/builtin"
	"github.com/gonfct/gonfct/pkg/ctnl"
	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"
)

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

// ---- add ----

type AddOptions struct {
	Env     *cli.Env
	Helper  cthelper.Helper
	Replace bool
}

func NewCmdAdd(env *cli.Env, runF func(*AddOptions) error) *cobra.Command {
	var (
		queue    uint32
		policies []string
		privLen  int
		replace  bool
		enable   bool
	)
	cmd := &cobra.Command{
		Use:   "add NAME FAMILY PROTO",
		Short: "Create a helper object (nfct add helper), disabled unless --enable",
		Example: `  gonfct helper add rpc inet tcp
  gonfct helper add rpc inet udp --queue 2 --policy rpc:1:300
  gonfct helper add steam inet udp --queue 7 --policy steam:8:30 --priv-len 0
  gonfct add helper ftp inet6 tcp --enable      # nfct word order`,
		Args: cli.ExactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			k, err := parseKey(args)
			if err != nil {
				return err
			}
			h := cthelper.Helper{Name: k.Name, Family: k.Family, Proto: k.Proto, QueueNum: queue}
			spec, known := builtin.Registry.Lookup(k.Name)
			var defaults []cthelper.Policy
			if known {
				if !spec.Supports(k.Family, k.Proto) {
					return cli.Usagef("built-in helper %q does not exist for %s %s (see `gonfct helper --help`)", k.Name, ctnl.FamilyName(k.Family), ctnl.ProtoName(k.Proto))
				}
				defaults = spec.Policies
				h.PrivLen = spec.PrivLen
				h.Policies = append([]cthelper.Policy(nil), spec.Policies...)
			}
			if len(policies) > 0 {
				// Given policies replace the defaults as a set; each keeps
				// the default values it does not name.
				h.Policies = nil
				for _, s := range policies {
					p, err := parsePolicy(s, defaults)
					if err != nil {
						return cli.Usage(err)
					}
					h.Policies = append(h.Policies, p)
				}
			}
			if !known && len(policies) == 0 {
				return cli.Usage(builtin.Registry.UnknownHelperError(k.Name))
			}
			if cmd.Flags().Changed("priv-len") {
				if privLen < 0 || privLen > cthelper.MaxPrivLen {
					return cli.Usagef("--priv-len %d: private data is 0 to %d bytes", privLen, cthelper.MaxPrivLen)
				}
				h.PrivLen = uint32(privLen)
			}
			if enable {
				h.Status = cthelper.Enabled
			}
			if err := h.Validate(); err != nil {
				return cli.Usage(err)
			}
			opts := &AddOptions{Env: env, Helper: h, Replace: replace}
			if runF != nil {
				return runF(opts)
			}
			return addRun(opts)
		},
	}
	f := cmd.Flags()
	f.Uint32Var(&queue, "queue", 0, "NFQUEUE number the kernel queues this helper's packets to")
	f.StringArrayVar(&policies, "policy", nil, "expectation policy NAME:EXPECTMAX:TIMEOUT (repeat for up to 4 classes; empty fields keep the defaults)")
	f.IntVar(&privLen, "priv-len", 0, "bytes of per-conntrack private data (0 to 32; default: the built-in helper's)")
	f.BoolVar(&replace, "replace", false, "replace an existing helper of the same name, family and protocol")
	f.BoolVar(&enable, "enable", false, "enable the helper at once (default: disabled, as nfct leaves it)")
	return cmd
}

func addRun(o *AddOptions) error {
	cl, done, err := client(o.Env)
	if err != nil {
		return err
	}
	defer done()
	return cl.Add(&o.Helper, o.Replace)
}

// ---- update ----

type UpdateOptions struct {
	Env    *cli.Env
	Key    key
	Update cthelper.Update
}

func NewCmdUpdate(env *cli.Env, runF func(*UpdateOptions) error) *cobra.Command {
	var (
		queue    uint32
		policies []string
		status   string
	)
	cmd := &cobra.Command{
		Use:   "update NAME FAMILY PROTO",
		Short: "Change a helper's queue, status or policy values in place",
		Example: `  gonfct helper update ftp inet tcp --policy ftp:2:120 --queue 5
  gonfct helper update rpc inet udp --status enabled`,
		Args: cli.ExactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			k, err := parseKey(args)
			if err != nil {
				return err
			}
			var u cthelper.Update
			if cmd.Flags().Changed("queue") {
				u.QueueNum = &queue
			}
			if cmd.Flags().Changed("status") {
				s, err := parseStatus(status)
				if err != nil {
					return err
				}
				u.Status = &s
			}
			var defaults []cthelper.Policy
			if spec, ok := builtin.Registry.Lookup(k.Name); ok {
				defaults = spec.Policies
			}
			for _, s := range policies {
				p, err := parsePolicy(s, defaults)
				if err != nil {
					return cli.Usage(err)
				}
				u.Policies = append(u.Policies, p)
			}
			if len(u.Policies) > cthelper.MaxPolicies {
				return cli.Usagef("%d policies given: a helper has at most %d", len(u.Policies), cthelper.MaxPolicies)
			}
			if u.QueueNum == nil && u.Status == nil && len(u.Policies) == 0 {
				return cli.Usagef("nothing to update: give --queue, --status or --policy")
			}
			opts := &UpdateOptions{Env: env, Key: k, Update: u}
			if runF != nil {
				return runF(opts)
			}
			cl, done, err := client(env)
			if err != nil {
				return err
			}
			defer done()
			return cl.Update(k.Name, k.Family, k.Proto, u)
		},
	}
	f := cmd.Flags()
	f.Uint32Var(&queue, "queue", 0, "new NFQUEUE number")
	f.StringArrayVar(&policies, "policy", nil, "new values NAME:EXPECTMAX:TIMEOUT of an existing policy (empty fields keep the defaults)")
	f.StringVar(&status, "status", "", "enabled or disabled")
	return cmd
}

func parseStatus(s string) (cthelper.Status, error) {
	switch strings.ToLower(s) {
	case "enabled", "enable", "on", "1":
		return cthelper.Enabled, nil
	case "disabled", "disable", "off", "0":
		return cthelper.Disabled, nil
	}
	return 0, cli.Usagef("bad status %q: want enabled or disabled", s)
}

// ---- enable / disable ----

func NewCmdStatus(env *cli.Env, st cthelper.Status, runF func(*UpdateOptions) error) *cobra.Command {
	verb, what := "enable", "Start queueing the helper's packets to its queue"
	if st == cthelper.Disabled {
		verb, what = "disable", "Let the helper's packets pass un-helped (nfct disable helper)"
	}
	return &cobra.Command{
		Use:   verb + " NAME FAMILY PROTO",
		Short: what,
		Example: `  gonfct helper ` + verb + ` ftp inet tcp
  gonfct ` + verb + ` helper rpc inet udp        # nfct word order`,
		Args: cli.ExactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			k, err := parseKey(args)
			if err != nil {
				return err
			}
			opts := &UpdateOptions{Env: env, Key: k, Update: cthelper.Update{Status: &st}}
			if runF != nil {
				return runF(opts)
			}
			cl, done, err := client(env)
			if err != nil {
				return err
			}
			defer done()
			return cl.SetStatus(k.Name, k.Family, k.Proto, st)
		},
	}
}

// ---- get / list ----

// record prints a helper in every output format.
type record struct {
	Name     string            `json:"name"`
	Family   string            `json:"family"`
	Protocol string            `json:"protocol"`
	Queue    uint32            `json:"queue"`
	Status   string            `json:"status"`
	PrivLen  uint32            `json:"priv_data_len"`
	Policies []cthelper.Policy `json:"policies"`

	h cthelper.Helper
}

var columns = []string{"NAME", "FAMILY", "PROTO", "QUEUE", "STATUS", "PRIV-LEN", "POLICIES"}

func newRecord(h cthelper.Helper) record {
	ps := h.Policies
	if ps == nil {
		ps = []cthelper.Policy{}
	}
	return record{Name: h.Name, Family: ctnl.FamilyName(h.Family), Protocol: ctnl.ProtoName(h.Proto),
		Queue: h.QueueNum, Status: h.Status.String(), PrivLen: h.PrivLen, Policies: ps, h: h}
}

func (r record) AppendText(b []byte) []byte {
	return fmt.Appendf(b, "%s %s %s queue=%d %s priv-len=%d policy=%s\n",
		r.Name, r.Family, r.Protocol, r.Queue, r.Status, r.PrivLen, formatPolicies(r.Policies))
}

func (r record) Row() []string {
	return []string{r.Name, r.Family, r.Protocol, strconv.Itoa(int(r.Queue)), r.Status,
		strconv.Itoa(int(r.PrivLen)), formatPolicies(r.Policies)}
}

// AppendFormat serves -o nfct: nfct's own block (libnetfilter_cthelper's snprintf).
func (r record) AppendFormat(f output.Format, b []byte) []byte {
	return fmt.Appendf(b, "{\n\t.name = %s,\n\t.queuenum = %d,\n\t.l3protonum = %d,\n\t.l4protonum = %d,\n\t.priv_data_len = %d,\n\t.status = %s,\n};\n",
		r.Name, r.Queue, r.h.Family, r.h.Proto, r.PrivLen, r.Status)
}

type ListOptions struct {
	Env *cli.Env
	Key *key // nil: all
}

func NewCmdGet(env *cli.Env, runF func(*ListOptions) error) *cobra.Command {
	return &cobra.Command{
		Use:   "get NAME [FAMILY [PROTO]]",
		Short: "Show the helpers of that name",
		Example: `  gonfct helper get rpc                       # every family and protocol
  gonfct helper get rpc inet udp -o json
  gonfct helper get steam inet udp -o nfct    # exactly as nfct prints it`,
		Args: cli.RangeArgs(1, 3),
		RunE: func(cmd *cobra.Command, args []string) error {
			k, err := parseKey(args)
			if err != nil {
				return err
			}
			opts := &ListOptions{Env: env, Key: &k}
			if runF != nil {
				return runF(opts)
			}
			return listRun(opts)
		},
	}
}

func NewCmdList(env *cli.Env, runF func(*ListOptions) error) *cobra.Command {
	return &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "Show every user-space helper (-o text|table|json|nfct)",
		Example: `  gonfct helper list
  gonfct helper list -o table
  gonfct list helper -o nfct                  # nfct word order and format`,
		Args: cli.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts := &ListOptions{Env: env}
			if runF != nil {
				return runF(opts)
			}
			return listRun(opts)
		},
	}
}

func listRun(o *ListOptions) error {
	w, err := o.Env.Writer(output.List, columns, output.Nfct)
	if err != nil {
		return err
	}
	cl, done, err := client(o.Env)
	if err != nil {
		return err
	}
	defer done()
	var hs []cthelper.Helper
	if o.Key == nil {
		hs, err = cl.List()
	} else {
		hs, err = cl.Get(o.Key.Name, o.Key.Family, o.Key.Proto)
	}
	if err != nil {
		return err
	}
	for _, h := range hs {
		if err := w.Write(newRecord(h)); err != nil {
			return err
		}
	}
	return w.Close()
}

// ---- delete / flush ----

func NewCmdDelete(env *cli.Env, runF func(*ListOptions) error) *cobra.Command {
	return &cobra.Command{
		Use:     "delete NAME [FAMILY [PROTO]]",
		Aliases: []string{"del"},
		Short:   "Delete the helpers of that name (of one family and protocol if given)",
		Example: `  gonfct helper delete ftp                    # both families
  gonfct helper delete rpc inet udp
  gonfct delete helper rpc                    # nfct word order`,
		Args: cli.RangeArgs(1, 3),
		RunE: func(cmd *cobra.Command, args []string) error {
			k, err := parseKey(args)
			if err != nil {
				return err
			}
			opts := &ListOptions{Env: env, Key: &k}
			if runF != nil {
				return runF(opts)
			}
			cl, done, err := client(env)
			if err != nil {
				return err
			}
			defer done()
			return cl.Delete(k.Name, k.Family, k.Proto)
		},
	}
}

func NewCmdFlush(env *cli.Env, runF func(*ListOptions) error) *cobra.Command {
	return &cobra.Command{
		Use:   "flush",
		Short: "Delete every user-space helper not in use by a ruleset",
		Example: `  gonfct helper flush
  gonfct flush helper                         # nfct word order`,
		Args: cli.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts := &ListOptions{Env: env}
			if runF != nil {
				return runF(opts)
			}
			cl, done, err := client(env)
			if err != nil {
				return err
			}
			defer done()
			kept, err := cl.Flush()
			if err != nil {
				return err
			}
			if len(kept) > 0 {
				names := make([]string, len(kept))
				for i, h := range kept {
					names[i] = fmt.Sprintf("%s %s %s", h.Name, ctnl.FamilyName(h.Family), ctnl.ProtoName(h.Proto))
				}
				return &ctnl.Error{Op: "flush helpers", Err: unix.EBUSY,
					Hint: fmt.Sprintf("kept %d in use: %s; %s", len(kept), strings.Join(names, ", "), cthelper.HintInUse)}
			}
			return nil
		},
	}
}
