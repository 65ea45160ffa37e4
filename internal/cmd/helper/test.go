package helper

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/gonfct/gonfct/internal/cli"
	"github.com/gonfct/gonfct/internal/output"
	"github.com/gonfct/gonfct/pkg/cthelper"
	"github.com/gonfct/gonfct/pkg/cthelper/builtin"
	"github.com/gonfct/gonfct/pkg/cthelper/replay"
	"github.com/gonfct/gonfct/pkg/ctnl"
	"github.com/spf13/cobra"
)

type TestOptions struct {
	Env    *cli.Env
	Helper replay.Helper
	Pcap   string
	// Want is --expect: the number of expectations that makes the exit
	// status 0; -1 means "at least one".
	Want int
}

func NewCmdTest(env *cli.Env, runF func(*TestOptions) error) *cobra.Command {
	var (
		loose   bool
		options []string
		ports   []uint
		config  string
	)
	opts := &TestOptions{Env: env}
	cmd := &cobra.Command{
		Use:   "test HELPER --pcap FILE [--config FILE]",
		Short: "Replay a packet capture through a helper, offline: the expectations it would create",
		Long: `Replay a packet capture through a helper's parser, the way "gonfct run"
handles live packets, and print each expectation it would create (as
"gonfct expect list" would show it), each payload rewrite, each packet it
drops and each packet it could not parse, with the packet's number in the
capture (as Wireshark and "tcpdump -#" count). No kernel, no root.

HELPER is a built-in helper, or with --config a helper the file declares
(a pattern helper of its own, or a built-in one with the file's options):
its Type blocks for each family and protocol are replayed as "gonfct run
--config" would run them.

The capture may be pcap or pcapng, on Ethernet (VLAN tags too), Linux cooked
("tcpdump -i any") or raw IP, IPv4 and IPv6. Each TCP or UDP flow to the
helper's port (--port, else its well-known one; a pattern helper has none,
so every flow of its protocol) is one emulated conntrack:
its original direction is a SYN's sender, or the side that talks to the
port; packets are NEW until the first reply, then ESTABLISHED; the helper's
private data is kept per flow. TCP segments whose data was parsed already
(retransmissions) are reported and not parsed again, and a hole in the
capture is reported before the segment after it.

Exit status: 0 if there was at least one expectation (with --expect N:
exactly N), 1 if not, 2 for a usage error or a capture or --config file
that is missing, unreadable or damaged (what came before the damage is
printed first), as for every input file gonfct reads.`,
		Example: `  tcpdump -i eth0 -w ftp.pcap 'tcp port 21'
  gonfct helper test ftp --pcap ftp.pcap
  gonfct helper test ftp --pcap ftp.pcap --port 2121 --expect 3
  gonfct helper test ftp --pcap bounce.pcap --loose -o json
  gonfct helper test rpc --pcap rpcinfo.pcapng -o table
  gonfct helper test lobby --config helpers.conf --pcap lobby.pcap`,
		Args: cli.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if opts.Pcap == "" {
				return cli.Usagef("gonfct helper test needs --pcap FILE (a capture: tcpdump -w FILE)")
			}
			o := cthelper.Options{}
			if loose {
				o["loose"] = "yes"
			}
			for _, kv := range options {
				k, v, ok := strings.Cut(kv, "=")
				if !ok || k == "" {
					return cli.Usagef("bad --option %q: want KEY=VALUE, e.g. loose=yes", kv)
				}
				o[k] = v
			}
			name := args[0]
			var h replay.Helper
			if config != "" {
				var err error
				if h, err = configHelper(config, name, o); err != nil {
					return err
				}
			} else {
				spec, ok := builtin.Registry.Lookup(name)
				if !ok {
					return cli.Usagef("%q is not a built-in helper: give the file that declares it with --config (built in: %s)", name, strings.Join(builtin.Registry.Names(), ", "))
				}
				if spec.NewParser == nil {
					return cli.Usagef("helper %q has no parser in this build of gonfct: nothing to test", name)
				}
				var err error
				if h, err = replay.ForBuiltin(builtin.Registry, name, o); err != nil {
					return cli.Usage(err) // the parser refused its options
				}
			}
			if len(ports) > 0 {
				h.Ports = nil
				for _, p := range ports {
					if p == 0 || p > 65535 {
						return cli.Usagef("bad --port %d: want 1 to 65535", p)
					}
					h.Ports = append(h.Ports, uint16(p))
				}
			}
			if len(h.Ports) == 0 && config == "" {
				return cli.Usagef("helper %q has no well-known port: give the control connection's with --port", name)
			}
			opts.Helper = h
			if opts.Want < -1 {
				return cli.Usagef("--expect wants a count of 0 or more")
			}
			if runF != nil {
				return runF(opts)
			}
			return testRun(opts)
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.Pcap, "pcap", "", "the capture to replay (pcap or pcapng)")
	f.BoolVar(&loose, "loose", false, "the parser's loose option (ftp: accept an announced address other than the sender's)")
	f.StringArrayVar(&options, "option", nil, "a parser option KEY=VALUE, as in the config file's Option lines (repeatable)")
	f.UintSliceVar(&ports, "port", nil, "the control connection's port(s), instead of the helper's well-known one")
	f.IntVar(&opts.Want, "expect", -1, "exit 0 only if exactly this many expectations come out")
	f.StringVarP(&config, "config", "C", "", "the helpers file (as gonfct run --config) that declares HELPER")
	return cmd
}

func testRun(opts *TestOptions) error {
	env := opts.Env
	w, err := env.Writer(output.List, []string{"PACKET", "EVENT", "FLOW", "DETAIL"})
	if err != nil {
		return err
	}
	data, err := os.ReadFile(opts.Pcap)
	if err != nil {
		return cli.Input(fmt.Errorf("read capture: %w", err))
	}
	frames, perr := replay.Parse(data)
	if len(frames) == 0 && perr != nil {
		return cli.Input(fmt.Errorf("%s: %w", opts.Pcap, perr))
	}
	h := opts.Helper
	var werr error
	st := replay.Run(frames, h, func(e replay.Event) {
		if e.Kind == replay.KindExpect && e.Expect.Helper == "" {
			e.Expect.Helper = h.Name // as the kernel lists it: the master's helper
		}
		if err := w.Write(testEvent(e)); err != nil && werr == nil {
			werr = err
		}
	})
	if err := w.Close(); err != nil {
		return err
	}
	if werr != nil {
		return werr
	}
	fmt.Fprintf(env.Err, "%s: %d packets, %d flows to %s, %d parsed: %d expectations, %d rewrites, %d drops, %d parse errors, %d malformed, %d retransmissions, %d gaps\n",
		h.Name, st.Frames, st.Flows, joinPorts(h.Ports), st.Packets, st.Expects, st.Rewrites, st.Drops, st.Errors, st.Malformed, st.Retransmits, st.Gaps)
	if perr != nil {
		return cli.Input(fmt.Errorf("%s: %w (the %d packets before it were replayed)", opts.Pcap, perr, len(frames)))
	}
	switch {
	case opts.Want >= 0 && st.Expects != opts.Want:
		return &cli.ExitError{Code: cli.ExitRuntime, Err: fmt.Errorf("%d expectations, --expect %d", st.Expects, opts.Want)}
	case opts.Want < 0 && st.Expects == 0:
		if st.Flows == 0 {
			return &cli.ExitError{Code: cli.ExitRuntime, Err: fmt.Errorf("no expectation: the capture has no %s flow to %s (see --port)", h.Name, joinPorts(h.Ports))}
		}
		return &cli.ExitError{Code: cli.ExitRuntime, Err: errors.New("no expectation")}
	}
	return nil
}

// joinPorts says which ports the helper's flows go to.
func joinPorts(ps []uint16) string {
	if len(ps) == 0 {
		return "any port"
	}
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = strconv.Itoa(int(p))
	}
	return "port " + strings.Join(s, ",")
}

// testEvent prints a replay event in every output format.
type testEvent replay.Event

func (e testEvent) flow() string {
	if !e.Src.IsValid() {
		return "-"
	}
	return fmt.Sprintf("%s %s > %s %s", ctnl.ProtoName(e.Proto), ap(e.Src, e.SrcPort), ap(e.Dst, e.DstPort), e.Dir)
}

func ap(a interface{ String() string }, port uint16) string {
	s := a.String()
	if strings.Contains(s, ":") {
		s = "[" + s + "]"
	}
	return s + ":" + strconv.Itoa(int(port))
}

func (e testEvent) detail() string {
	switch e.Kind {
	case replay.KindExpect:
		return strings.TrimSuffix(string(e.Expect.AppendText(nil)), "\n")
	case replay.KindRewrite:
		return fmt.Sprintf("payload bytes %d-%d %q -> %q", e.Rewrite.Off, e.Rewrite.Off+e.Rewrite.Len, e.Old, e.Rewrite.Data)
	case replay.KindDrop:
		return "dropped: the sender retransmits it"
	case replay.KindRetransmit:
		return "data parsed already; not parsed again"
	}
	return e.Err
}

func (e testEvent) AppendText(b []byte) []byte {
	b = fmt.Appendf(b, "packet %d %s", e.Packet, e.Kind)
	if e.Kind != replay.KindExpect && e.Src.IsValid() {
		b = append(b, ' ')
		b = append(b, e.flow()...)
	}
	b = append(b, ": "...)
	b = append(b, e.detail()...)
	return append(b, '\n')
}

func (e testEvent) Row() []string {
	return []string{strconv.Itoa(e.Packet), string(e.Kind), e.flow(), e.detail()}
}

func (e testEvent) MarshalJSON() ([]byte, error) {
	type flow struct {
		Proto   string `json:"proto"`
		Src     string `json:"src"`
		Dst     string `json:"dst"`
		SrcPort uint16 `json:"sport"`
		DstPort uint16 `json:"dport"`
		Dir     string `json:"direction"`
	}
	v := struct {
		Packet  int             `json:"packet"`
		Event   string          `json:"event"`
		Flow    *flow           `json:"flow,omitempty"`
		Expect  json.RawMessage `json:"expectation,omitempty"`
		Rewrite *struct {
			Offset int    `json:"offset"`
			Length int    `json:"length"`
			Old    string `json:"old"`
			New    string `json:"new"`
		} `json:"rewrite,omitempty"`
		Error string `json:"error,omitempty"`
	}{Packet: e.Packet, Event: string(e.Kind)}
	if e.Src.IsValid() {
		v.Flow = &flow{ctnl.ProtoName(e.Proto), e.Src.String(), e.Dst.String(), e.SrcPort, e.DstPort, e.Dir.String()}
	}
	switch e.Kind {
	case replay.KindExpect:
		v.Expect = e.Expect.AppendJSON(nil)
	case replay.KindRewrite:
		v.Rewrite = &struct {
			Offset int    `json:"offset"`
			Length int    `json:"length"`
			Old    string `json:"old"`
			New    string `json:"new"`
		}{e.Rewrite.Off, e.Rewrite.Len, string(e.Old), string(e.Rewrite.Data)}
	default:
		v.Error = e.Err
	}
	return json.Marshal(v)
}
