package timeout

import (
	"github.com/gonfct/gonfct/internal/cli"
	"github.com/gonfct/gonfct/internal/output"
	"github.com/gonfct/gonfct/pkg/cttimeout"
	"github.com/spf13/cobra"
)

// DefaultGetOptions are the words of `timeout default-get`.
type DefaultGetOptions struct {
	Env           *cli.Env
	Family, Proto uint8
}

// NewCmdDefaultGet makes `timeout default-get`.
func NewCmdDefaultGet(env *cli.Env, runF func(*DefaultGetOptions) error) *cobra.Command {
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
			opts := &DefaultGetOptions{Env: env, Family: f, Proto: p}
			if runF != nil {
				return runF(opts)
			}
			return defaultGetRun(opts)
		},
	}
}

func defaultGetRun(o *DefaultGetOptions) error {
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

// DefaultSetOptions are the words of `timeout default-set`.
type DefaultSetOptions struct {
	Env           *cli.Env
	Family, Proto uint8
	Timeouts      cttimeout.Timeouts
}

const defaultSetUse = "default-set inet|inet6 PROTO STATE SECS [STATE SECS ...]"

// NewCmdDefaultSet makes `timeout default-set`.
func NewCmdDefaultSet(env *cli.Env, runF func(*DefaultSetOptions) error) *cobra.Command {
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
			opts := &DefaultSetOptions{Env: env, Family: f, Proto: p, Timeouts: t}
			if runF != nil {
				return runF(opts)
			}
			return defaultSetRun(opts)
		},
	}
}

func defaultSetRun(o *DefaultSetOptions) error {
	c, err := o.Env.Conn()
	if err != nil {
		return err
	}
	defer c.Close()
	return asUsage(cttimeout.DefaultSet(c, o.Family, o.Proto, o.Timeouts))
}
