// Command gonfct manages user-space conntrack helpers end to end: helper
// objects (nfnetlink_cthelper), expectations and conntracks (ctnetlink),
// timeout policies (cttimeout), and the helper engine itself (run).
package main

import (
	"fmt"
	"io"
	"os"

	"github.com/gonfct/gonfct/internal/cli"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run executes one command line and returns the exit status: 0, 1 for a
// runtime error, 2 for a usage error.
func run(args []string, in io.Reader, out, errw io.Writer) int {
	env := &cli.Env{In: in, Out: out, Err: errw}
	root := newRootCmd(env)
	root.SetArgs(nfctOrder(args))
	root.SetIn(in)
	root.SetOut(out)
	root.SetErr(errw)
	err := root.Execute()
	if err != nil {
		err = classify(err)
		fmt.Fprintln(errw, cli.Message(err))
	}
	return cli.ExitCode(err)
}
