package root

import (
	"strings"
	"testing"

	"github.com/gonfct/gonfct/internal/cli"
)

func TestNfctWordOrder(t *testing.T) {
	for in, want := range map[string]string{
		"add helper rpc inet udp":          "helper add rpc inet udp",
		"--netns x delete helper ftp":      "--netns x helper delete ftp",
		"-o json list timeout":             "-o json timeout list",
		"helper add rpc inet udp":          "helper add rpc inet udp",
		"expect list":                      "expect list",
		"default-get timeout inet tcp":     "timeout default-get inet tcp",
		"--netns=x add timeout t inet tcp": "--netns=x timeout add t inet tcp",
	} {
		if got := strings.Join(nfctOrder(strings.Fields(in)), " "); got != want {
			t.Errorf("nfctOrder(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestTimeoutNfctWordOrder(t *testing.T) {
	for in, want := range map[string]string{
		"add timeout web inet tcp established 1":   "timeout add web inet tcp established 1",
		"--netns x list timeout":                   "--netns x timeout list",
		"-o nfct get timeout web":                  "-o nfct timeout get web",
		"default-set timeout inet tcp close 1":     "timeout default-set inet tcp close 1",
		"default-get timeout inet tcp":             "timeout default-get inet tcp",
		"delete timeout web":                       "timeout delete web",
		"flush timeout":                            "timeout flush",
		"timeout add web inet tcp established 100": "timeout add web inet tcp established 100",
	} {
		if got := strings.Join(nfctOrder(strings.Fields(in)), " "); got != want {
			t.Errorf("nfctOrder(%q) = %q, want %q", in, got, want)
		}
	}
	// And every verb nfct has for timeouts reaches a command of ours.
	root := NewCmdRoot(&cli.Env{}, "")
	for _, verb := range []string{"list", "add", "delete", "get", "flush", "default-set", "default-get", "update"} {
		c, _, err := root.Find(nfctOrder([]string{verb, "timeout"}))
		if err != nil || c.Name() != verb {
			t.Errorf("nfct verb %q: found %v, %v", verb, c, err)
		}
	}
}
