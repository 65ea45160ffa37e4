package sdnotify

import (
	"net"
	"path/filepath"
	"strings"
	"testing"
)

func TestNotifySocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "notify")
	l, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := NotifySocket(path, Reloading, MonotonicUsec()); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 256)
	n, err := l.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	got := string(buf[:n])
	if !strings.HasPrefix(got, "RELOADING=1\nMONOTONIC_USEC=") {
		t.Fatalf("sent %q", got)
	}
	if err := NotifySocket("", Ready); err != nil {
		t.Fatal("no socket must be a no-op")
	}
	if err := NotifySocket(filepath.Join(t.TempDir(), "absent"), Ready); err == nil {
		t.Fatal("an absent socket must be an error")
	}
}
