// Package clitest runs one command's parsing in a unit test, the way the
// root would, without the root: each command package tests its own.
package clitest

import (
	"bytes"
	"testing"

	"github.com/gonfct/gonfct/internal/cli"
	"github.com/spf13/cobra"
)

// Execute runs cmd with args, its output discarded, and returns the error
// (nil if parsing and the injected runF succeeded). Flag errors are usage
// errors, as under the root.
func Execute(t testing.TB, cmd *cobra.Command, args ...string) error {
	t.Helper()
	cmd.SetArgs(args)
	cmd.SetOut(&bytes.Buffer{})
	cmd.SetErr(&bytes.Buffer{})
	cmd.SilenceErrors, cmd.SilenceUsage = true, true
	cmd.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return cli.FlagError(c.CommandPath(), err) })
	return cmd.Execute()
}
