// Command gonfct manages user-space conntrack helpers end to end: helper
// objects (nfnetlink_cthelper), expectations and conntracks (ctnetlink),
// timeout policies (cttimeout), and the helper engine itself (run). The
// commands live in internal/cmd/...; this builds the tree and runs it.
package main

import (
	"os"

	"github.com/gonfct/gonfct/internal/cli"
	"github.com/gonfct/gonfct/internal/cmd/root"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	env := &cli.Env{In: os.Stdin, Out: os.Stdout, Err: os.Stderr}
	err := root.Execute(root.NewCmdRoot(env, version), os.Args[1:])
	os.Exit(cli.Report(os.Stderr, err)) // one line on stderr; exit 2 for usage, 1 otherwise
}
