// Package run is `gonfct run`: the helper engine in the foreground, its
// configuration, --check, metrics, reload on SIGHUP and systemd notification.
package run

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/gonfct/gonfct/internal/cli"
	"github.com/gonfct/gonfct/internal/config"
	"github.com/gonfct/gonfct/internal/output"
	"github.com/gonfct/gonfct/internal/sdnotify"
	"github.com/gonfct/gonfct/pkg/cthelper/engine"
	"github.com/gonfct/gonfct/pkg/cthelper/engine/registry"
	"github.com/spf13/cobra"
)

// RunOptions are the words and flags of `gonfct run`.
type RunOptions struct {
	Env *cli.Env

	ConfigFile string
	Helpers    []string // --helper values, unparsed
	Check      bool
	Cleanup    engine.Cleanup
	ExpectVia  engine.ExpectVia
	FailOpen   bool
	Metrics    string // listen address, "" for none
	LogLevel   slog.Level
	LogFormat  string
	RcvBuf     int
	// NetnsAll is --netns-all: every namespace under /run/netns, followed.
	// The --netns values are in Env.NetNS.
	NetnsAll bool
	// RegistryDir is the host's engine registry (registry.DefaultDir).
	RegistryDir string

	// Parsed configuration (filled by the command from ConfigFile and
	// Helpers).
	Config engine.Config
	// Notices from the config file (skipped sections).
	Notices []string

	// Signals delivers SIGTERM/SIGINT/SIGHUP; nil means the process's own.
	Signals <-chan os.Signal
}

func NewCmdRun(env *cli.Env, runF func(*RunOptions) error) *cobra.Command {
	o := &RunOptions{Env: env, RegistryDir: registry.DefaultDir}
	var cleanup, expectVia, logLevel string
	cmd := &cobra.Command{
		Use:   "run [--config FILE] [--helper " + config.HelperFlagSyntax + "]...",
		Short: "Run the user-space helper engine (NFQUEUE), like conntrackd's helper mode",
		Long: `Run the user-space conntrack helper engine in the foreground.

For each helper, run binds its NFQUEUE with the conntrack glue, creates (or
updates) the helper object and enables it — no "nfct add helper" first — and
parses the packets the kernel queues: it creates the expectations the
protocol announces and keeps the helper's private data. On SIGTERM or SIGINT
it disables its helpers (--cleanup delete deletes them, --cleanup none leaves
them enabled: their packets then pass un-helped until an engine serves their
queues again); SIGHUP reloads --config without dropping the queues it keeps.
Under systemd (Type=notify or notify-reload) it reports READY, RELOADING and
STOPPING.

Helpers come from a conntrackd.conf Helper section (--config; other sections
are ignored with a notice) and from --helper flags, which may be combined:

  --helper ` + config.HelperFlagSyntax + `

  FAMILY is inet (IPv4) or inet6 (IPv6); PROTO tcp or udp; queue defaults
  to 0; queuelen 0 keeps the kernel's 1024; policy overrides one
  expectation policy (MAX or TIMEOUT may be left empty to keep the default);
  any other KEY=VALUE is a parser option (ftp: loose=yes).
  Each helper needs its own queue.

A helper that is not built in is described by patterns: Pattern blocks in
its Type block (see docs/writing-a-helper.md), or for a quick trial
pattern=REGEX at the end of --helper, after its settings direction=
(original, reply, both), expect= (tcp, udp) and lines=no:

  --helper 'lobby:inet:tcp:queue=7:direction=reply:expect=udp:pattern=^MATCH (?P<port>[0-9]+)$'

  The named group port (or port_hi and port_lo) is the port to expect,
  addr the address (default: the announcing side's own).

The ruleset assigns the helper to connections, for example:

  nft add ct helper inet filter ftp-us '{ type "ftp" protocol tcp; }'
  nft add rule inet filter prerouting tcp dport 21 ct helper set "ftp-us"
  iptables -t raw -A PREROUTING -p tcp --dport 21 -j CT --helper ftp

Expectations of a confirmed connection go through ctnetlink before the
verdict (each refusal is seen, counted and logged); the first expectation of
a connection's first packet, which ctnetlink cannot reach yet, rides in the
verdict (NFQA_EXP), and so does one that names a helper for the expected
connection (ssdp's), which the kernel attaches only there. --expect-via
verdict always puts the first one in the verdict (the kernel does not report
its fate); ctnetlink never does. In every mode a NATed expectation whose
port the payload announces (ftp's PORT, EPRT, 227, 229; a pattern's port)
is made through ctnetlink, and answered, before the verdict: where another
connection's expectation holds that port, it moves to the next one and the
announcement is rewritten to match.

One engine serves many network namespaces: --netns NAME (repeatable) serves
each namespace named, --netns-all every namespace under /run/netns,
following those made and deleted later (within a second); without either,
the engine's own namespace (a Netns line in --config may name them
instead). Helper objects are global to the kernel: each is made once, and
its queue bound in every namespace served. Only one engine on the host may
serve a helper: a second one that would re-point or disable it is refused
at start, naming the first (pid, namespaces). Engines register under
/run/gonfct; the entry of an engine that died (even by kill -9) blocks
nothing. On exit an engine leaves alone the helpers another engine serves.

--check validates the configuration and probes the kernel (cthelper,
ctnetlink, each queue with the conntrack glue in each namespace, kernel
helpers of the same name, other engines serving a helper) without changing
anything, then exits 1 if something is missing.

Metrics (--metrics ADDR, Prometheus text format on /metrics): packets by
helper and verdict, expectations created and failed, parse errors, parser
panics, malformed packets, queue overflows; each labelled with its
namespace (netns="" for the engine's own).`,
		Example: `  gonfct run --helper ftp:inet:tcp:queue=5
  gonfct run --helper 'lobby:inet:tcp:queue=7:direction=reply:expect=udp:pattern=^MATCH (?P<port>[0-9]+)$'
  gonfct run --config /etc/gonfct/helpers.conf --metrics 127.0.0.1:9469
  gonfct run --config /etc/gonfct/helpers.conf --netns tenant-a --netns tenant-b
  gonfct run --config /etc/gonfct/helpers.conf --netns-all
  gonfct run --config /etc/conntrackd/conntrackd.conf --check`,
		Args: cli.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var err error
			if o.Cleanup, err = engine.ParseCleanup(cleanup); err != nil {
				return cli.Usage(err)
			}
			if o.ExpectVia, err = engine.ParseExpectVia(expectVia); err != nil {
				return cli.Usage(err)
			}
			if o.LogLevel, err = parseLogLevel(logLevel); err != nil {
				return cli.Usage(err)
			}
			if o.LogFormat != "text" && o.LogFormat != "json" {
				return cli.Usagef("unknown --log-format %q: want text or json", o.LogFormat)
			}
			if o.RcvBuf < 0 {
				return cli.Usagef("--rcvbuf must be positive")
			}
			if o.Metrics != "" {
				if _, _, err := net.SplitHostPort(o.Metrics); err != nil {
					return cli.Usagef("--metrics %q: want HOST:PORT (for example 127.0.0.1:9469 or :9469)", o.Metrics)
				}
			}
			if err := o.load(); err != nil {
				return err
			}
			if runF != nil {
				return runF(o)
			}
			return runRun(o)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.ConfigFile, "config", "C", "", "conntrackd.conf-style file with a Helper section")
	f.StringArrayVar(&o.Helpers, "helper", nil, "a helper to run: "+config.HelperFlagSyntax+" (repeatable)")
	f.BoolVar(&o.Check, "check", false, "validate the configuration and probe kernel support, change nothing")
	f.StringVar(&cleanup, "cleanup", "disable", "what to do with the helpers on exit: disable, delete or none")
	f.StringVar(&expectVia, "expect-via", "auto", "how expectations reach the kernel: auto, verdict or ctnetlink")
	f.BoolVar(&o.FailOpen, "fail-open", false, "a full queue accepts packets (un-helped) instead of dropping them")
	f.StringVar(&o.Metrics, "metrics", "", "serve Prometheus metrics on this address (HOST:PORT), path /metrics")
	f.StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn or error")
	f.StringVar(&o.LogFormat, "log-format", "text", "log format: text or json (logs go to stderr)")
	f.IntVar(&o.RcvBuf, "rcvbuf", 0, "socket receive buffer per queue in bytes (default 4 MiB)")
	f.BoolVar(&o.NetnsAll, "netns-all", false, "serve every namespace under "+engine.NetnsDir+", following those made and deleted later")
	return cmd
}

func parseLogLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("unknown --log-level %q: want debug, info, warn or error", s)
	}
	return l, nil
}

// load reads --config and --helper into o.Config. Every mistake in them is
// a usage error: nothing has touched the kernel yet.
func (o *RunOptions) load() error {
	var cfg *config.Config
	if o.ConfigFile != "" {
		c, err := config.Load(o.ConfigFile)
		if err != nil {
			return cli.Input(err)
		}
		cfg = c
		o.Notices = c.Notices
	} else {
		cfg = &config.Config{}
	}
	for _, s := range o.Helpers {
		h, err := config.ParseHelperFlag(s)
		if err != nil {
			return cli.Usage(err)
		}
		if err := cfg.Add(h); err != nil {
			return cli.Usage(err)
		}
	}
	if len(cfg.Helpers) == 0 {
		if o.ConfigFile != "" {
			return cli.Usagef("%s declares no helper (no Type block in a Helper section)", o.ConfigFile)
		}
		return cli.Usagef("no helper to run: give --config FILE or --helper %s", config.HelperFlagSyntax)
	}
	ec := engine.Config{FailOpen: o.FailOpen, ExpectVia: o.ExpectVia, Cleanup: o.Cleanup, ReceiveBuffer: o.RcvBuf,
		Netns: o.netns(cfg)}
	for i := range cfg.Helpers {
		h := &cfg.Helpers[i]
		p, err := h.NewParser()
		if err != nil {
			return cli.Usagef("%s: %v", h.Pos, err)
		}
		ec.Helpers = append(ec.Helpers, engine.Helper{Object: h.Object(), QueueLen: h.QueueLen, Parser: p, Netns: h.Netns,
			Source: h.Pos.String()})
	}
	if err := ec.Validate(); err != nil {
		return cli.Usage(err)
	}
	o.Config = ec
	return nil
}

// netns are the namespaces to serve: --netns and --netns-all when given,
// else the file's Netns lines (none: the engine's own namespace).
func (o *RunOptions) netns(cfg *config.Config) []string {
	words := slices.Clone(o.Env.NetNS)
	if o.NetnsAll {
		words = append(words, engine.NetnsDir)
	}
	if len(words) == 0 {
		return cfg.Netns
	}
	if len(cfg.Netns) > 0 {
		o.Notices = append(o.Notices, fmt.Sprintf("%s: Netns lines ignored: --netns or --netns-all given", cfg.NetnsPos[0]))
	}
	return words
}

func (o *RunOptions) logger() *slog.Logger {
	ho := &slog.HandlerOptions{Level: o.LogLevel}
	if o.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(o.Env.Err, ho))
	}
	return slog.New(slog.NewTextHandler(o.Env.Err, ho))
}

// findingRecord prints one --check result.
type findingRecord struct {
	engine.Finding
}

func (r findingRecord) AppendText(b []byte) []byte {
	mark := "ok     "
	if !r.OK {
		mark = "MISSING"
	}
	return fmt.Appendf(b, "%s %s: %s\n", mark, r.What, r.Detail)
}

func (r findingRecord) Row() []string {
	s := "ok"
	if !r.OK {
		s = "missing"
	}
	return []string{s, r.What, r.Detail}
}

func runCheck(o *RunOptions) error {
	w, err := o.Env.Writer(output.List, []string{"STATUS", "WHAT", "DETAIL"})
	if err != nil {
		return err
	}
	fs := engine.Check(engine.Options{Dial: o.ownConn, Registry: registry.Open(o.RegistryDir)}, o.Config)
	for _, f := range fs {
		if err := w.Write(findingRecord{f}); err != nil {
			return err
		}
	}
	if err := w.Close(); err != nil {
		return err
	}
	return engine.CheckFailed(fs)
}

func runRun(o *RunOptions) error {
	log := o.logger()
	for _, n := range o.Notices {
		log.Info(n)
	}
	if o.Check {
		return runCheck(o)
	}
	sigs := o.Signals
	if sigs == nil {
		ch := make(chan os.Signal, 4)
		signal.Notify(ch, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
		defer signal.Stop(ch)
		sigs = ch
	}
	// GOMAXPROCS set by the user wins over the engine's fit.
	eng := engine.New(engine.Options{Dial: o.ownConn, Log: log, Registry: registry.Open(o.RegistryDir),
		FitProcs: os.Getenv("GOMAXPROCS") == ""})

	// The metrics listener is opened before the kernel is touched, so a
	// busy port changes nothing.
	var srv *http.Server
	if o.Metrics != "" {
		l, err := net.Listen("tcp", o.Metrics)
		if err != nil {
			return fmt.Errorf("metrics: %w: choose another --metrics address", err)
		}
		mux := http.NewServeMux()
		mux.Handle("/metrics", eng.Metrics().Handler())
		if os.Getenv(pprofEnv) != "" {
			servePprof(mux)
			log.Info("serving profiles", "addr", l.Addr().String(), "path", "/debug/pprof/", "env", pprofEnv)
		}
		srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		go func() { _ = srv.Serve(l) }()
		defer srv.Close()
		log.Info("serving metrics", "addr", l.Addr().String(), "path", "/metrics")
	}

	if err := eng.Start(o.Config); err != nil {
		return explain(err, o.Config.Netns)
	}
	log.Info("engine running", "helpers", len(o.Config.Helpers), "netns", netnsText(o.Config.Netns), "cleanup", o.Cleanup.String(),
		"expect_via", o.ExpectVia.String(), "fail_open", o.FailOpen)
	notify(log, sdnotify.Ready)
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	ran := make(chan error, 1)
	go func() { ran <- eng.Run(ctx) }()
	for {
		select {
		case err := <-ran:
			// A queue's worker failed; Run has stopped the engine.
			notify(log, sdnotify.Stopping)
			return err
		case sig := <-sigs:
			if sig == syscall.SIGHUP {
				reload(o, eng, log)
				continue
			}
			log.Info("stopping", "signal", sig.String())
			notify(log, sdnotify.Stopping)
			stop()
			return <-ran
		}
	}
}

// reload re-reads --config (and the --helper flags) and applies it; a bad
// configuration is logged and the running one kept.
func reload(o *RunOptions, eng *engine.Engine, log *slog.Logger) {
	notify(log, sdnotify.Reloading, sdnotify.MonotonicUsec())
	defer notify(log, sdnotify.Ready)
	next := *o
	if err := next.load(); err != nil {
		eng.Metrics().ReloadErrors.Add(1)
		log.Error("reload refused, keeping the running configuration", "err", errors.Unwrap(err))
		return
	}
	if err := eng.Reload(next.Config); err != nil {
		log.Error("reload", "err", explain(err, next.Config.Netns))
		return
	}
	for _, n := range next.Notices {
		log.Info(n)
	}
	log.Info("configuration reloaded", "helpers", len(next.Config.Helpers))
}

func notify(log *slog.Logger, lines ...string) {
	if err := sdnotify.Notify(lines...); err != nil {
		log.Warn("systemd notification", "state", strings.Join(lines, " "), "err", err)
	}
}
