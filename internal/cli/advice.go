package cli

import "errors"

// Advise adds advice to an error from a library package. The library says
// what happened (operation, errno, object, the kernel's text); the command
// that called it knows what the user can do about it, in its own commands
// and flags. The message reads "<err>: <advice>"; errors.Is and errors.As
// still see err.
func Advise(err error, advice string) error {
	if err == nil || advice == "" {
		return err
	}
	return &advisedError{err: err, advice: advice}
}

// AdviseOn adds advice to err if it matches target (errors.Is): a kernel
// refusal such as ctnl.ErrExists for the command's own object.
func AdviseOn(err, target error, advice string) error {
	if errors.Is(err, target) {
		return Advise(err, advice)
	}
	return err
}

type advisedError struct {
	err    error
	advice string
}

func (e *advisedError) Error() string { return e.err.Error() + ": " + e.advice }
func (e *advisedError) Unwrap() error { return e.err }
