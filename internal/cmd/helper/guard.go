package helper

import (
	"fmt"

	"github.com/gonfct/gonfct/internal/cli"
	"github.com/gonfct/gonfct/pkg/cthelper/engine/registry"
	"github.com/gonfct/gonfct/pkg/ctnl"
	"github.com/spf13/cobra"
)

// Guard keeps the commands that disable, delete, re-point or replace a
// helper object from doing it under a running `gonfct run`: the engine
// would go on reading a queue the kernel no longer feeds, and the
// helper's traffic would pass un-helped with nothing said. nfct knows no
// engines; gonfct does, through the host's engine registry.
type Guard struct {
	// Force changes the helper anyway.
	Force bool
	// RegistryDir is the host's engine registry.
	RegistryDir string
}

// newGuard adds --force to cmd.
func newGuard(cmd *cobra.Command) *Guard {
	g := &Guard{RegistryDir: registry.DefaultDir}
	cmd.Flags().BoolVar(&g.Force, "force", false, "change it even when a running gonfct run serves it")
	return g
}

// check refuses when a live engine serves a helper k matches (a zero
// family or protocol matches every one; an empty name every helper).
func (g *Guard) check(env *cli.Env, k key) error {
	if g == nil || g.Force {
		return nil
	}
	for _, e := range runningEngines(env, g.RegistryDir) {
		for _, h := range e.Helpers {
			if (k.Name == "" || h.Name == k.Name) &&
				(k.Family == 0 || h.Family == ctnl.FamilyName(k.Family)) &&
				(k.Proto == 0 || h.Proto == ctnl.ProtoName(k.Proto)) {
				return fmt.Errorf("helper %s is served by gonfct run, pid %d in %s: its traffic would pass un-helped: "+
					"stop that engine first (it disables its helpers when it exits), or give --force", h, e.PID, e.NetnsText())
			}
		}
	}
	return nil
}
