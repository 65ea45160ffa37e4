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
		return fmt.Errorf("%w: %s", err, conflictAdvice(ce, ours, engine.OwnNetnsName()))
	case errors.As(err, &re) && errors.Is(err, fs.ErrPermission):
		return fmt.Errorf("%w: gonfct run registers there the helpers it serves, so that engines do not undo each other's: "+
			"run it as root, or make %s writable for its user (systemd: RuntimeDirectory=gonfct)", err, registry.DefaultDir)
	case errors.As(err, &ne) && errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%w: give a name from `ip netns list`, a namespace file such as /proc/PID/ns/net, or --netns-all", err)
	}
	return err
}

// conflictAdvice says how to serve both engines' namespaces from one
// process. An engine's own namespace ("" among its words) is named as
// another process can name it (ownName is the refused engine's): once
// --netns is given, a namespace not named is not served.
func conflictAdvice(ce *registry.ConflictError, ours []string, ownName string) string {
	var words []string
	add := func(w string) {
		if !slices.Contains(words, w) {
			words = append(words, w)
		}
	}
	h := ce.Holder
	for _, w := range h.Follows {
		add(w)
	}
	for _, w := range h.Netns {
		switch {
		case w == "":
			add(h.OwnName())
		case len(h.Follows) == 0:
			add(w)
		}
	}
	if len(ours) == 0 {
		ours = []string{""}
	}
	for _, w := range ours {
		if w == "" {
			w = ownName
		}
		add(w)
	}
	// Both serving the one namespace they run in: so does the one
	// engine, with no flag.
	var flags []string
	if len(words) > 1 || words[0] != ownName {
		for _, w := range words {
			if w == engine.NetnsDir {
				flags = append(flags, "--netns-all")
			} else {
				flags = append(flags, "--netns "+w)
			}
		}
	}
	return fmt.Sprintf("serve every namespace from one process: stop pid %d and run one gonfct run%s with the helpers of both "+
		"(or give this engine helpers pid %d does not serve)", h.PID, strings.Join(append([]string{""}, flags...), " "), h.PID)
}
