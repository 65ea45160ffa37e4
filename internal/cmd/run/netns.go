package run

import (
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"

	"github.com/gonfct/gonfct/pkg/cthelper/engine"
	"github.com/gonfct/gonfct/pkg/cthelper/engine/registry"
	"github.com/gonfct/gonfct/pkg/ctnl"
)

// ownConn opens a netfilter socket in the namespace gonfct runs in: the
// helper objects are global to the kernel, and the queues of the
// namespaces named are bound by the engine in each of them.
func (o *RunOptions) ownConn() (*ctnl.Conn, error) {
	if o.Env.Dial != nil {
		return o.Env.Dial()
	}
	return ctnl.Dial(ctnl.DialOptions{})
}

// netnsText is the namespaces served, for the log.
func netnsText(words []string) string {
	if len(words) == 0 {
		return "own"
	}
	return strings.Join(words, ",")
}

// explain adds to an engine error what the user can do about it.
func explain(err error, ours []string) error {
	var ce *registry.ConflictError
	var re *registry.Error
	var ne *engine.NetnsError
	switch {
	case errors.As(err, &ce):
		return fmt.Errorf("%w: %s", err, conflictAdvice(ce, ours))
	case errors.As(err, &re) && errors.Is(err, fs.ErrPermission):
		return fmt.Errorf("%w: gonfct run registers there the helpers it serves, so that engines do not undo each other's: "+
			"run it as root, or make %s writable for its user (systemd: RuntimeDirectory=gonfct)", err, registry.DefaultDir)
	case errors.As(err, &ne) && errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%w: give a name from `ip netns list`, a namespace file such as /proc/PID/ns/net, or --netns-all", err)
	}
	return err
}

// conflictAdvice says how to serve both engines' namespaces from one
// process.
func conflictAdvice(ce *registry.ConflictError, ours []string) string {
	var flags []string
	add := func(w string) {
		f := "--netns " + w
		if w == engine.NetnsDir {
			f = "--netns-all"
		}
		if w != "" && !slices.Contains(flags, f) {
			flags = append(flags, f)
		}
	}
	for _, w := range ce.Holder.Follows {
		add(w)
	}
	for _, w := range ce.Holder.Netns {
		if len(ce.Holder.Follows) == 0 {
			add(w)
		}
	}
	for _, w := range ours {
		add(w)
	}
	if len(flags) == 0 {
		return fmt.Sprintf("stop pid %d first, or give this engine helpers it does not serve", ce.Holder.PID)
	}
	return fmt.Sprintf("serve every namespace from one process: stop pid %d and run one gonfct run %s with the helpers of both "+
		"(or give this engine helpers pid %d does not serve)", ce.Holder.PID, strings.Join(flags, " "), ce.Holder.PID)
}
