// Package cli holds what every gonfct command shares: the IO streams and
// global flags (Env), usage errors (exit status 2) versus runtime errors
// (exit status 1), and the one place an error becomes a one-line message.
package cli

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/gonfct/gonfct/internal/output"
	"github.com/gonfct/gonfct/pkg/ctnl"
	"github.com/spf13/cobra"
)

// Env is what a command gets from the root: streams, the global flags and
// how to reach the kernel. Tests fill it with buffers and a fake Dial.
type Env struct {
	In       io.Reader
	Out, Err io.Writer

	// NetNS are the --netns values: the network namespace to work in.
	// Only gonfct run takes several (it serves them all); Conn refuses
	// more than one.
	NetNS []string
	// Output is the -o flag, unchecked; use Writer to get a checked one.
	Output string

	// Dial opens a netfilter socket; nil means ctnl.Dial in NetNS.
	Dial func() (*ctnl.Conn, error)
}

// Conn opens a netfilter socket in the chosen namespace.
func (e *Env) Conn() (*ctnl.Conn, error) {
	if e.Dial != nil {
		return e.Dial()
	}
	switch len(e.NetNS) {
	case 0:
		return ctnl.Dial(ctnl.DialOptions{})
	case 1:
		return ctnl.Dial(ctnl.DialOptions{NetNS: e.NetNS[0]})
	}
	return nil, Usagef("--netns is given %d times: only gonfct run serves several namespaces at once; give it once", len(e.NetNS))
}

// NetNSFlag is the --netns flag's value: each use adds a namespace.
// It reads as a plain string flag in help and man pages.
type NetNSFlag struct{ Env *Env }

func (f NetNSFlag) String() string { return strings.Join(f.Env.NetNS, ",") }
func (f NetNSFlag) Set(s string) error {
	if strings.TrimSpace(s) == "" {
		// An empty word from a script's unset variable would silently
		// mean this namespace.
		return errors.New("empty: give a name from `ip netns list` or a path such as /proc/PID/ns/net (leave --netns out for this namespace)")
	}
	f.Env.NetNS = append(f.Env.NetNS, s)
	return nil
}
func (f NetNSFlag) Type() string { return "string" }

// Format checks -o against the formats every command offers and the
// command's extra ones, for commands that check it before doing anything.
func (e *Env) Format(extra ...output.Format) (output.Format, error) {
	s := e.Output
	if s == "" {
		s = string(output.Text)
	}
	f, err := output.ParseFormat(s, extra...)
	return f, Usage(err)
}

// Writer checks -o and returns the writer every command prints records
// through.
func (e *Env) Writer(mode output.Mode, columns []string, extra ...output.Format) (*output.Writer, error) {
	f, err := e.Format(extra...)
	if err != nil {
		return nil, err
	}
	return output.NewWriter(e.Out, f, mode, columns...), nil
}

// Document checks -o for a command whose output has one form only (what:
// "gonfct rules prints a ruleset") and returns where to print it.
func (e *Env) Document(what string) (io.Writer, error) {
	w, err := output.Document(e.Out, e.Output, what)
	return w, Usage(err)
}

// UsageError is a mistake in the command line: exit status 2.
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

// Usage marks err as a usage error.
func Usage(err error) error {
	if err == nil {
		return nil
	}
	return &UsageError{Err: err}
}

// Usagef builds a usage error.
func Usagef(format string, args ...any) error {
	return &UsageError{Err: fmt.Errorf(format, args...)}
}

// InputError is an input file named on the command line (a config, a
// save file, a capture) that is missing, unreadable or not what it should
// be. Its exit status is 2, as for a usage error, in every command: the
// command was not carried out, nothing was changed, and the fix is in what
// was given (the file's name or its content). Its message has no --help
// hint: the file, not the flags, is wrong.
type InputError struct{ Err error }

func (e *InputError) Error() string { return e.Err.Error() }
func (e *InputError) Unwrap() error { return e.Err }

// Input marks err as an input file's error.
func Input(err error) error {
	if err == nil {
		return nil
	}
	return &InputError{Err: err}
}

// Exit status values.
const (
	ExitOK      = 0
	ExitRuntime = 1
	ExitUsage   = 2
)

// ExitCode maps an error to the process exit status.
func ExitCode(err error) int {
	if err == nil {
		return ExitOK
	}
	var ue *UsageError
	if errors.As(err, &ue) {
		return ExitUsage
	}
	var ie *InputError
	if errors.As(err, &ie) {
		return ExitUsage
	}
	var ce *ExitError
	if errors.As(err, &ce) {
		return ce.Code
	}
	return ExitRuntime
}

// ExitError ends a command with a chosen status after it has said what it
// had to (for instance `helper test --expect N` that found a different N).
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("exit status %d", e.Code)
	}
	return e.Err.Error()
}
func (e *ExitError) Unwrap() error { return e.Err }

// errorList is an error made of several mistakes, each worth its own
// line (config.ErrorList: every mistake in a file, file:line:column each).
type errorList interface{ Errors() []error }

// Message is what is printed for err on stderr: one line, or for a list
// of mistakes one line each.
func Message(err error) string {
	var list errorList
	if errors.As(err, &list) {
		errs := list.Errors()
		lines := make([]string, len(errs))
		for i, e := range errs {
			lines[i] = "gonfct: " + strings.ReplaceAll(e.Error(), "\n", "; ")
		}
		return strings.Join(lines, "\n")
	}
	msg := strings.ReplaceAll(err.Error(), "\n", "; ")
	var ue *UsageError
	if errors.As(err, &ue) && !strings.Contains(msg, "--help") {
		msg += " (see --help)"
	}
	return "gonfct: " + msg
}

// ExactArgs is cobra.ExactArgs with a usage error that names the command's
// synopsis.
func ExactArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return Usagef("%s takes %d argument(s), got %d: usage: %s", cmd.CommandPath(), n, len(args), cmd.UseLine())
		}
		return nil
	}
}

// RangeArgs is cobra.RangeArgs with a usage error.
func RangeArgs(min, max int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) < min || len(args) > max {
			return Usagef("%s takes %d to %d arguments, got %d: usage: %s", cmd.CommandPath(), min, max, len(args), cmd.UseLine())
		}
		return nil
	}
}

// NoArgs refuses positional arguments with a usage error.
func NoArgs(cmd *cobra.Command, args []string) error {
	if len(args) != 0 {
		return Usagef("%s takes no arguments, got %q: usage: %s", cmd.CommandPath(), args, cmd.UseLine())
	}
	return nil
}

// Report prints err's one line on w, if there is an error, and returns the
// exit status for it: what main does with the error of a command line.
func Report(w io.Writer, err error) int {
	if err != nil {
		fmt.Fprintln(w, Message(err))
	}
	return ExitCode(err)
}
