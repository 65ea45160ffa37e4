// Package sdnotify tells systemd about a service's state (sd_notify(3)):
// READY=1 once it serves, RELOADING=1 and STOPPING=1 around reloads and
// shutdown. Outside systemd ($NOTIFY_SOCKET unset) it does nothing.
package sdnotify

import (
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// States.
const (
	Ready     = "READY=1"
	Stopping  = "STOPPING=1"
	Reloading = "RELOADING=1"
)

// Notify sends the state lines to $NOTIFY_SOCKET; without it, nothing.
func Notify(lines ...string) error {
	return NotifySocket(os.Getenv("NOTIFY_SOCKET"), lines...)
}

// NotifySocket sends to the given socket path ("@name" is abstract).
func NotifySocket(path string, lines ...string) error {
	if path == "" {
		return nil
	}
	if strings.HasPrefix(path, "@") {
		path = "\x00" + path[1:]
	}
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return fmt.Errorf("sd_notify: %w", err)
	}
	defer c.Close()
	if _, err := c.Write([]byte(strings.Join(lines, "\n"))); err != nil {
		return fmt.Errorf("sd_notify: %w", err)
	}
	return nil
}

// MonotonicUsec is the MONOTONIC_USEC= line systemd wants with
// RELOADING=1 (Type=notify-reload).
func MonotonicUsec() string {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return fmt.Sprintf("MONOTONIC_USEC=%d", ts.Nano()/int64(time.Microsecond))
}
