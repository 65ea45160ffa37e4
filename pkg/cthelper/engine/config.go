package engine

import (
	"errors"
	"fmt"
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
	// CleanupNone leaves them enabled: traffic for them is dropped until
	// an engine serves their queues again.
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
}

// Validate checks the whole configuration before anything is sent to the
// kernel: helper objects within the kernel's limits, a parser for each,
// one helper per queue, no helper twice.
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
			return fmt.Errorf("%shelper %s is configured twice (also at %s)", where, key, prev.Source)
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
	return nil
}

// queues groups the helpers by queue, in configuration order.
func (c *Config) queues() []queueConfig {
	var out []queueConfig
	idx := map[uint32]int{}
	for i := range c.Helpers {
		h := &c.Helpers[i]
		if j, ok := idx[h.Object.QueueNum]; ok {
			out[j].objects = append(out[j].objects, h.Object)
			if h.QueueLen != 0 {
				out[j].queueLen = h.QueueLen
			}
			continue
		}
		idx[h.Object.QueueNum] = len(out)
		out = append(out, queueConfig{num: uint16(h.Object.QueueNum), name: h.Object.Name, parser: h.Parser,
			privLen: h.Object.PrivLen, queueLen: h.QueueLen, objects: []cthelper.Helper{h.Object}})
	}
	return out
}

type queueConfig struct {
	num      uint16
	name     string
	parser   cthelper.Parser
	privLen  uint32
	queueLen uint32
	objects  []cthelper.Helper
}

func (q *queueConfig) describe() string {
	var fams []string
	for _, o := range q.objects {
		fams = append(fams, ctnl.FamilyName(o.Family)+"/"+ctnl.ProtoName(o.Proto))
	}
	return fmt.Sprintf("%s (%s) on queue %d", q.name, strings.Join(fams, ", "), q.num)
}
