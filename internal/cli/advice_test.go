package cli

import (
	"errors"
	"testing"

	"github.com/gonfct/gonfct/pkg/ctnl"
	"golang.org/x/sys/unix"
)

func TestAdvise(t *testing.T) {
	lib := &ctnl.Error{Op: "add helper ftp inet tcp", Err: unix.EEXIST, Hint: "it exists already"}
	err := AdviseOn(lib, ctnl.ErrExists, "change it with `gonfct helper update`")
	if want := "add helper ftp inet tcp: EEXIST file exists: it exists already: change it with `gonfct helper update`"; err.Error() != want {
		t.Errorf("message %q, want %q", err, want)
	}
	var ce *ctnl.Error
	if !errors.Is(err, ctnl.ErrExists) || !errors.Is(err, unix.EEXIST) || !errors.As(err, &ce) || ExitCode(err) != ExitRuntime {
		t.Errorf("advice hides the library error: %v", err)
	}
	if err := AdviseOn(lib, ctnl.ErrNotFound, "see list"); err != error(lib) {
		t.Errorf("advice for another error was added: %v", err)
	}
	if AdviseOn(nil, ctnl.ErrExists, "x") != nil || Advise(nil, "x") != nil {
		t.Error("advice made an error out of nil")
	}
	if u := Advise(Usagef("bad"), "see --help"); ExitCode(u) != ExitUsage {
		t.Errorf("advised usage error exits %d", ExitCode(u))
	}
}
