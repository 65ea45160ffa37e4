package ct

import (
	"strings"
	"testing"
	"time"

	"github.com/gonfct/gonfct/internal/cli"
	"github.com/gonfct/gonfct/internal/cli/clitest"
)

// Durations read the same in every command (issue 19, defect 7): `ct add
// -t 1h` was refused while `timeout add` took 1h.
func TestCtDurations(t *testing.T) {
	env := &cli.Env{}
	tuple := []string{"tcp", "10.0.0.1", "10.0.0.2", "40000", "21"}
	for in, want := range map[string]uint32{"300": 300, "300s": 300, "5m": 300, "1h": 3600, "1h30m": 5400, "2d": 172800} {
		var add *AddOptions
		err := clitest.Execute(t, NewCmdAdd(env, func(o *AddOptions) error { add = o; return nil }), append(tuple, "-t", in)...)
		if err != nil || add.flow.Timeout != want {
			t.Errorf("ct add -t %s: %v, timeout %v; want %d", in, err, add, want)
		}
		var up *UpdateOptions
		err = clitest.Execute(t, NewCmdUpdate(env, func(o *UpdateOptions) error { up = o; return nil }), append(tuple, "--timeout", in)...)
		if err != nil || up.flow.Timeout != want {
			t.Errorf("ct update --timeout %s: %v; want %d", in, err, want)
		}
		var w *WatchOptions
		err = clitest.Execute(t, NewCmdWatch(env, func(o *WatchOptions) error { w = o; return nil }), "--timeout", in)
		if err != nil || w.watch.Timeout != time.Duration(want)*time.Second {
			t.Errorf("ct watch --timeout %s: %v; want %ds", in, err, want)
		}
	}
	for _, in := range []string{"0", "-1", "1.5h", "1h30", "x", "25d"} {
		err := clitest.Execute(t, NewCmdAdd(env, func(*AddOptions) error { return nil }), append(tuple, "-t", in)...)
		if cli.ExitCode(err) != cli.ExitUsage || !strings.Contains(err.Error(), "want a duration from 1s to 24d20h31m23s") ||
			strings.Contains(err.Error(), "strconv") {
			t.Errorf("ct add -t %s: %v, want a usage error naming the range", in, err)
		}
	}
	err := clitest.Execute(t, NewCmdWatch(env, func(*WatchOptions) error { return nil }), "--timeout", "-5")
	if cli.ExitCode(err) != cli.ExitUsage || strings.Contains(err.Error(), "time:") {
		t.Errorf("ct watch --timeout -5: %v, want a usage error in gonfct's words", err)
	}
}
