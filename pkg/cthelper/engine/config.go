package engine

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/gonfct/gonfct/pkg/cthelper"
	"github.com/gonfct/gonfct/pkg/ctnl"
)

// Helper is one helper the engine serves: the kernel object it creates
// and enables, how long its queue may grow, and the parser for its
// packets.
type Helper struct {
	Object   cthelper.Helper
	QueueLen uint32 // 0: the kernel's default (1024)
	Parser   cthelper.Parser
	// Netns restricts the helper to these namespaces, by the names the
	// engine serves them under (see Config.Netns); empty: every namespace
	// the engine serves. The same helper may be configured again for
	// other namespaces, with other parser options; its kernel object
	// (queue, policies) is one for all of them.
	Netns []string
	// Source says where the helper was configured ("helpers.conf:12:5",
	// "--helper ftp:inet:tcp"), for messages.
	Source string
}

// ExpectVia chooses how expectations reach the kernel.
type ExpectVia uint8

const (
	// ExpectAuto sends expectations of a confirmed master through
	// ctnetlink before the verdict, so every refusal is seen and counted;
	// for an unconfirmed master (its first packet, which ctnetlink cannot
	// find yet) the first goes in the verdict (NFQA_EXP), and so does the
	// first that names a helper for the expected connection (the kernel
	// attaches it only there).
	ExpectAuto ExpectVia = iota
	// ExpectVerdict always sends the first expectation in the verdict and
	// any further ones through ctnetlink. The kernel does not report
	// whether the one in the verdict was created.
	ExpectVerdict
	// ExpectCtnetlink sends every expectation through ctnetlink (the
	// expected connections then get no helper from their expectations).
	ExpectCtnetlink
)

// ParseExpectVia reads auto, verdict or ctnetlink.
func ParseExpectVia(s string) (ExpectVia, error) {
	switch s {
	case "auto", "":
		return ExpectAuto, nil
	case "verdict":
		return ExpectVerdict, nil
	case "ctnetlink":
		return ExpectCtnetlink, nil
	}
	return 0, fmt.Errorf("unknown expectation path %q: want auto, verdict or ctnetlink", s)
}

func (v ExpectVia) String() string {
	return [...]string{"auto", "verdict", "ctnetlink"}[v]
}

// Cleanup is what happens to the engine's helpers when it stops.
type Cleanup uint8

const (
	// CleanupDisable leaves the helper objects but disables them, so the
	// kernel stops queueing packets nobody will read.
	CleanupDisable Cleanup = iota
	// CleanupDelete deletes them (falling back to disable while a ruleset
	// still references one).
	CleanupDelete
	// CleanupNone leaves them enabled: the kernel keeps sending their
	// packets to the queues, and where nobody listens on a queue the
	// packets pass un-helped (the helper's queue verdict carries the
	// bypass flag) until an engine serves it again.
	CleanupNone
)

// ParseCleanup reads disable, delete or none.
func ParseCleanup(s string) (Cleanup, error) {
	switch s {
	case "disable", "":
		return CleanupDisable, nil
	case "delete":
		return CleanupDelete, nil
	case "none":
		return CleanupNone, nil
	}
	return 0, fmt.Errorf("unknown cleanup %q: want disable, delete or none", s)
}

func (c Cleanup) String() string { return [...]string{"disable", "delete", "none"}[c] }

// Config is everything the engine serves.
type Config struct {
	Helpers []Helper
	// FailOpen makes a full queue accept packets (un-helped) instead of
	// dropping them.
	FailOpen  bool
	ExpectVia ExpectVia
	Cleanup   Cleanup
	// ReceiveBuffer is each queue socket's receive buffer in bytes (0: the
	// nfq default).
	ReceiveBuffer int
	// Netns are the network namespaces to serve, each one a name under
	// /run/netns (as `ip netns add` makes them), the path of a namespace
	// file (/proc/PID/ns/net), or a directory of such files, every one of
	// which is served as they come and go (/run/netns). Empty: the
	// namespace Options.Dial opens.
	Netns []string
}

// Validate checks the whole configuration before anything is sent to the
// kernel: helper objects within the kernel's limits, a parser for each,
// one helper per queue, no helper twice for one namespace, and one kernel
// object per helper: the namespaces a helper is configured for apart
// share its queue, policies and private-data length.
func (c *Config) Validate() error {
	if len(c.Helpers) == 0 {
		return errors.New("no helper to run: the configuration has none")
	}
	byQueue := map[uint32]*Helper{}
	keys := map[string]*Helper{}
	for i := range c.Helpers {
		h := &c.Helpers[i]
		where := h.Source
		if where != "" {
			where += ": "
		}
		if err := h.Object.Validate(); err != nil {
			return fmt.Errorf("%s%w", where, err)
		}
		if h.Parser == nil {
			return fmt.Errorf("%shelper %q has no parser in this build", where, h.Object.Name)
		}
		key := fmt.Sprintf("%s %s %s", h.Object.Name, ctnl.FamilyName(h.Object.Family), ctnl.ProtoName(h.Object.Proto))
		if prev, dup := keys[key]; dup {
			if err := sameObject(key, h, prev); err != nil {
				return fmt.Errorf("%s%w", where, err)
			}
		}
		keys[key] = h
		if prev, ok := byQueue[h.Object.QueueNum]; ok {
			if prev.Object.Name != h.Object.Name {
				return fmt.Errorf("%squeue %d is given to helper %q and to %q (at %s): each helper needs its own queue",
					where, h.Object.QueueNum, h.Object.Name, prev.Object.Name, prev.Source)
			}
			if prev.QueueLen != h.QueueLen && h.QueueLen != 0 && prev.QueueLen != 0 {
				return fmt.Errorf("%squeue %d has two lengths, %d and %d (at %s)", where, h.Object.QueueNum, h.QueueLen, prev.QueueLen, prev.Source)
			}
			if prev.Object.PrivLen != h.Object.PrivLen {
				return fmt.Errorf("%shelper %q on queue %d has two private-data lengths", where, h.Object.Name, h.Object.QueueNum)
			}
			continue
		}
		byQueue[h.Object.QueueNum] = h
	}
	return c.checkNetnsNames()
}

// checkNetnsNames refuses a helper kept to a namespace the engine does
// not serve, where that is known without looking: when every Netns word
// is a name (no path, no directory).
func (c *Config) checkNetnsNames() error {
	for _, w := range c.Netns {
		if strings.ContainsRune(w, '/') {
			return nil
		}
	}
	for i := range c.Helpers {
		h := &c.Helpers[i]
		for _, n := range h.Netns {
			if slices.Contains(c.Netns, n) {
				continue
			}
			where := h.Source
			if where != "" {
				where += ": "
			}
			served := "only its own namespace"
			if len(c.Netns) > 0 {
				served = nsList(c.Netns)
			}
			return fmt.Errorf("%shelper %s is kept to namespace %s, which is not served (the engine serves %s)", where, h.Object.Name, n, served)
		}
	}
	return nil
}

// sameObject checks a helper configured again (for other namespaces)
// against its first configuration: the kernel has one object for both.
func sameObject(key string, h, prev *Helper) error {
	if len(h.Netns) == 0 || len(prev.Netns) == 0 {
		return fmt.Errorf("helper %s is configured twice (also at %s)", key, prev.Source)
	}
	for _, n := range h.Netns {
		if slices.Contains(prev.Netns, n) {
			return fmt.Errorf("helper %s is configured twice for namespace %s (also at %s)", key, n, prev.Source)
		}
	}
	if h.Object.QueueNum != prev.Object.QueueNum {
		return fmt.Errorf("helper %s has queue %d for %s and queue %d for %s (at %s): the kernel keeps one queue number per helper object, "+
			"for every namespace: give both the same queue", key, h.Object.QueueNum, nsList(h.Netns), prev.Object.QueueNum, nsList(prev.Netns), prev.Source)
	}
	if !slices.Equal(h.Object.Policies, prev.Object.Policies) || h.Object.PrivLen != prev.Object.PrivLen {
		return fmt.Errorf("helper %s has other expectation policies for %s than for %s (at %s): the kernel keeps one helper object, "+
			"for every namespace: give both the same policies", key, nsList(h.Netns), nsList(prev.Netns), prev.Source)
	}
	return nil
}

func nsList(names []string) string {
	if len(names) == 1 {
		return "namespace " + names[0]
	}
	return "namespaces " + strings.Join(names, ", ")
}

// queues groups the helpers by queue, in configuration order. A helper
// configured for several namespaces apart is one kernel object with a
// parser per namespace.
func (c *Config) queues() []queueConfig {
	var out []queueConfig
	idx := map[uint32]int{}
	for i := range c.Helpers {
		h := &c.Helpers[i]
		sp := scopedParser{netns: h.Netns, parser: h.Parser}
		if j, ok := idx[h.Object.QueueNum]; ok {
			q := &out[j]
			if !hasObject(q.objects, h.Object) {
				q.objects = append(q.objects, h.Object)
			}
			q.parsers = append(q.parsers, sp)
			if h.QueueLen != 0 {
				q.queueLen = h.QueueLen
			}
			continue
		}
		idx[h.Object.QueueNum] = len(out)
		out = append(out, queueConfig{num: uint16(h.Object.QueueNum), name: h.Object.Name, parsers: []scopedParser{sp},
			privLen: h.Object.PrivLen, queueLen: h.QueueLen, objects: []cthelper.Helper{h.Object}})
	}
	return out
}

type queueConfig struct {
	num      uint16
	name     string
	parsers  []scopedParser
	privLen  uint32
	queueLen uint32
	objects  []cthelper.Helper
}

// scopedParser is a helper's parser and the namespaces it serves (empty:
// all).
type scopedParser struct {
	netns  []string
	parser cthelper.Parser
}

// parserFor is the parser of the queue in the namespace of that name; ok
// is false where the queue is not served.
func (q *queueConfig) parserFor(netns string) (p cthelper.Parser, ok bool) {
	for _, sp := range q.parsers {
		if len(sp.netns) == 0 || slices.Contains(sp.netns, netns) {
			return sp.parser, true
		}
	}
	return nil, false
}
