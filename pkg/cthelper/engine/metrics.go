package engine

import (
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
)

// Stats are one queue's counters in one namespace. Workers add to them
// with atomics; the metrics endpoint reads them at any time.
type Stats struct {
	Netns  string // "" for the engine's own namespace
	Helper string
	Queue  uint16

	Accepted atomic.Uint64 // packets accepted
	Dropped  atomic.Uint64 // packets dropped (the parser's verdict)

	// Expectations created: in the verdict (NFQA_EXP; the kernel reports
	// no outcome) and through ctnetlink (acknowledged).
	ExpectInVerdict atomic.Uint64
	ExpectCtnetlink atomic.Uint64
	ExpectFailed    atomic.Uint64 // refused by the kernel or undeliverable
	PrivUpdates     atomic.Uint64 // verdicts carrying new private data
	TimeoutUpdates  atomic.Uint64 // verdicts setting the master's timeout
	PortRenumbers   atomic.Uint64 // NATed expectations moved off a taken port
	PayloadRewrites atomic.Uint64 // verdicts carrying a rewritten packet
	ParseErrors     atomic.Uint64 // the parser said the payload was malformed
	Malformed       atomic.Uint64 // not decodable as IP/TCP/UDP with a conntrack
	Panics          atomic.Uint64 // the parser panicked
	NoConntrack     atomic.Uint64 // queued without NFQA_CT (misconfiguration)
	QueueOverflows  atomic.Uint64 // ENOBUFS: the kernel dropped packets for us
	SocketDrops     atomic.Uint64 // packets dropped at our socket (SO_MEMINFO)
	VerdictErrors   atomic.Uint64 // verdicts the kernel refused
	BytesSeen       atomic.Uint64 // transport payload bytes parsed
}

// Metrics is the set of per-queue stats the engine exposes, in the
// Prometheus text format.
type Metrics struct {
	mu    sync.Mutex
	stats map[statsKey]*Stats
	// Reloads counts configuration reloads; ReloadErrors the refused ones.
	Reloads, ReloadErrors atomic.Uint64
}

type statsKey struct {
	netns string
	queue uint16
}

// NewMetrics makes an empty set.
func NewMetrics() *Metrics { return &Metrics{stats: map[statsKey]*Stats{}} }

// For returns the stats of a queue in a namespace, creating them; a queue
// keeps its counters across reloads.
func (m *Metrics) For(netns string, queue uint16, helper string) *Stats {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := statsKey{netns, queue}
	s, ok := m.stats[k]
	if !ok || s.Helper != helper {
		s = &Stats{Netns: netns, Helper: helper, Queue: queue}
		m.stats[k] = s
	}
	return s
}

// drop forgets a namespace's stats: it is no longer served.
func (m *Metrics) drop(netns string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for k := range m.stats {
		if k.netns == netns {
			delete(m.stats, k)
		}
	}
}

// Snapshot returns the stats sorted by namespace and queue.
func (m *Metrics) Snapshot() []*Stats {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]*Stats, 0, len(m.stats))
	for _, s := range m.stats {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Netns != out[j].Netns {
			return out[i].Netns < out[j].Netns
		}
		return out[i].Queue < out[j].Queue
	})
	return out
}

type metricDef struct {
	name, help, extra string
	get               func(*Stats) uint64
}

var metricDefs = []metricDef{
	{"gonfct_helper_packets_total", "Queued packets by helper and verdict.", `verdict="accept"`, func(s *Stats) uint64 { return s.Accepted.Load() }},
	{"gonfct_helper_packets_total", "", `verdict="drop"`, func(s *Stats) uint64 { return s.Dropped.Load() }},
	{"gonfct_helper_expectations_created_total", "Expectations created, by path: in the verdict (NFQA_EXP, outcome unreported by the kernel) or through ctnetlink (sent ahead of the verdict without asking for an acknowledgement: the kernel reports only refusals, counted in gonfct_helper_expectations_failed_total).", `path="verdict"`, func(s *Stats) uint64 { return s.ExpectInVerdict.Load() }},
	{"gonfct_helper_expectations_created_total", "", `path="ctnetlink"`, func(s *Stats) uint64 { return s.ExpectCtnetlink.Load() }},
	{"gonfct_helper_expectations_failed_total", "Expectations the kernel refused or that could not be delivered.", "", func(s *Stats) uint64 { return s.ExpectFailed.Load() }},
	{"gonfct_helper_private_data_updates_total", "Verdicts that carried new helper private data.", "", func(s *Stats) uint64 { return s.PrivUpdates.Load() }},
	{"gonfct_helper_nat_port_renumbers_total", "NATed expectations moved to the next port because another connection's expectation held theirs.", "", func(s *Stats) uint64 { return s.PortRenumbers.Load() }},
	{"gonfct_helper_master_timeout_updates_total", "Verdicts that set the master conntrack's timeout.", "", func(s *Stats) uint64 { return s.TimeoutUpdates.Load() }},
	{"gonfct_helper_payload_rewrites_total", "Verdicts that carried a rewritten packet.", "", func(s *Stats) uint64 { return s.PayloadRewrites.Load() }},
	{"gonfct_helper_parse_errors_total", "Packets the protocol parser found malformed (accepted un-helped).", "", func(s *Stats) uint64 { return s.ParseErrors.Load() }},
	{"gonfct_helper_malformed_packets_total", "Packets not decodable as IP/TCP/UDP with a conntrack (accepted un-helped).", "", func(s *Stats) uint64 { return s.Malformed.Load() }},
	{"gonfct_helper_panics_total", "Packets on which the parser panicked (accepted un-helped).", "", func(s *Stats) uint64 { return s.Panics.Load() }},
	{"gonfct_helper_no_conntrack_total", "Packets queued without conntrack information (accepted un-helped).", "", func(s *Stats) uint64 { return s.NoConntrack.Load() }},
	{"gonfct_queue_overflows_total", "Times the socket buffer overflowed (ENOBUFS) and the kernel dropped queued packets.", "", func(s *Stats) uint64 { return s.QueueOverflows.Load() }},
	{"gonfct_queue_socket_drops_total", "Packets the kernel dropped at the queue's socket (SO_MEMINFO).", "", func(s *Stats) uint64 { return s.SocketDrops.Load() }},
	{"gonfct_helper_verdict_errors_total", "Verdicts the kernel refused.", "", func(s *Stats) uint64 { return s.VerdictErrors.Load() }},
	{"gonfct_helper_payload_bytes_total", "Transport payload bytes handed to the parser.", "", func(s *Stats) uint64 { return s.BytesSeen.Load() }},
}

// WriteText writes every counter in the Prometheus text exposition
// format (version 0.0.4).
func (m *Metrics) WriteText(w io.Writer) error {
	snap := m.Snapshot()
	var b []byte
	last := ""
	for _, d := range metricDefs {
		if d.name != last {
			b = fmt.Appendf(b, "# HELP %s %s\n# TYPE %s counter\n", d.name, d.help, d.name)
			last = d.name
		}
		for _, s := range snap {
			b = append(b, d.name...)
			b = append(b, `{netns="`...)
			b = appendLabelValue(b, s.Netns)
			b = append(b, `",helper="`...)
			b = append(b, s.Helper...)
			b = append(b, `",queue="`...)
			b = strconv.AppendUint(b, uint64(s.Queue), 10)
			b = append(b, '"')
			if d.extra != "" {
				b = append(b, ',')
				b = append(b, d.extra...)
			}
			b = append(b, "} "...)
			b = strconv.AppendUint(b, d.get(s), 10)
			b = append(b, '\n')
		}
	}
	b = fmt.Appendf(b, "# HELP gonfct_reloads_total Configuration reloads (SIGHUP), by result.\n# TYPE gonfct_reloads_total counter\n")
	b = fmt.Appendf(b, "gonfct_reloads_total{result=\"ok\"} %d\ngonfct_reloads_total{result=\"error\"} %d\n", m.Reloads.Load(), m.ReloadErrors.Load())
	_, err := w.Write(b)
	return err
}

// appendLabelValue escapes a label value as the text format wants: a
// namespace's name may hold quotes and backslashes.
func appendLabelValue(b []byte, v string) []byte {
	for i := 0; i < len(v); i++ {
		switch c := v[i]; c {
		case '\\', '"':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		default:
			b = append(b, c)
		}
	}
	return b
}

// Handler serves the metrics over HTTP.
func (m *Metrics) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		_ = m.WriteText(w)
	})
}
