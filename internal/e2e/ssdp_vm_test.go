//go:build vmtest

package e2e

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gonfct/gonfct/internal/nstest"
)

// The ssdp scenario of issue 6, end to end with Debian's UPnP peers: the
// device daemon miniupnpd, the control point upnpc (miniupnpc), and curl
// for an event SUBSCRIBE with a small python3 HTTP server on the callback.
//
// Searches are multicast, which does not cross a router, so the firewall
// is the control point's own: its input drops new connections and its
// output drops new TCP. The device's search answers, the control point's
// connections to the device's LOCATION (description, SOAP, SUBSCRIBE) and
// the device's NOTIFY connections to the callback then pass only as
// RELATED, through the expectations `gonfct run` makes for the ssdp
// helper, which the output chain assigns to the searches; the other
// connections get the helper from the expectations that let them in.

// upnpLAN is a control point (cp) and a UPnP device (dev) on one link,
// with miniupnpd on the device and the event callback on the control
// point.
type upnpLAN struct {
	cp, dev *nstest.NS
	notify  string // the callback's log: one line per NOTIFY received
}

// upnpFamily is one address family's URL hosts.
type upnpFamily struct {
	name, upnpcFlag string
	cp, dev         string // as in a URL
}

var upnpFamilies = []upnpFamily{
	{"IPv4", "", "10.80.0.2", "10.80.0.1"},
	{"IPv6", "-6", "[fd00:80::2]", "[fd00:80::1]"},
}

// miniupnpd refuses a private or reserved external address; the one it is
// given (example.com's) is only reported, never used.
const miniupnpdConf = `ext_ifname=dv
ext_ip=93.184.216.34
listening_ip=dv
port=5000
enable_natpmp=no
secure_mode=no
system_uptime=yes
uuid=2fac1234-31f8-11b4-a222-08002b34c003
allow 1024-65535 0.0.0.0/0 1024-65535
`

// upnpCallbackPy answers every NOTIFY on port 42000 (IPv4 and IPv6) and
// logs it to the file argv[1].
const upnpCallbackPy = `
import http.server, socket, sys
log = open(sys.argv[1], "a", buffering=1)
class Callback(http.server.BaseHTTPRequestHandler):
    def do_NOTIFY(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        log.write("NOTIFY from %s SID %s NT %s HOST %s\n" % (self.client_address[0], self.headers.get("SID"), self.headers.get("NT"), self.headers.get("HOST")))
        self.send_response(200); self.send_header("Content-Length", "0"); self.end_headers()
    def log_message(self, *args): pass
class Server(http.server.HTTPServer):
    address_family = socket.AF_INET6
Server(("::", 42000), Callback).serve_forever()
`

func newUPnPLAN(t *testing.T) *upnpLAN {
	n := &upnpLAN{cp: nstest.New(t), dev: nstest.New(t)}
	// No duplicate address detection: the link-local addresses the
	// searches and answers use are usable at once.
	for _, ns := range []*nstest.NS{n.cp, n.dev} {
		ns.MustRun("sysctl", "-qw", "net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0")
	}
	n.dev.MustRun("ip", "link", "add", "dv", "type", "veth", "peer", "name", "cv", "netns", n.cp.Name)
	for _, c := range [][]string{
		{"dev", "addr", "add", "10.80.0.1/24", "dev", "dv"}, {"dev", "-6", "addr", "add", "fd00:80::1/64", "dev", "dv", "nodad"},
		{"cp", "addr", "add", "10.80.0.2/24", "dev", "cv"}, {"cp", "-6", "addr", "add", "fd00:80::2/64", "dev", "cv", "nodad"},
		{"dev", "link", "set", "dv", "up"}, {"cp", "link", "set", "cv", "up"},
		{"cp", "route", "add", "239.0.0.0/8", "dev", "cv"},
	} {
		map[string]*nstest.NS{"cp": n.cp, "dev": n.dev}[c[0]].MustRun("ip", c[1:]...)
	}
	startMiniupnpd(t, n.dev, miniupnpdConf)
	n.notify = filepath.Join(t.TempDir(), "notify.log")
	daemon(t, n.cp, "/usr/bin/python3", "-c", upnpCallbackPy, n.notify)
	waitListen(t, n.cp, "t", "42000", 1)
	return n
}

// startMiniupnpd starts miniupnpd in ns with the configuration conf and
// waits for its HTTP port; the returned function stops it (so does the
// test's end).
func startMiniupnpd(t *testing.T, ns *nstest.NS, conf string) func() {
	dir := t.TempDir()
	file := filepath.Join(dir, "miniupnpd.conf")
	if err := os.WriteFile(file, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	// Not in the foreground (-d): its debug log would also go to the
	// console, there being no syslog. It daemonizes and writes its pid.
	pid := filepath.Join(dir, "miniupnpd.pid")
	ns.MustRun("miniupnpd", "-f", file, "-P", pid)
	stop := func() {
		b, _ := os.ReadFile(pid)
		if p, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && p > 1 {
			syscall.Kill(p, syscall.SIGTERM)
		}
		for range 50 {
			if out, _ := ns.Run("ss", "-Hltn", "sport", "= :5000"); strings.TrimSpace(out) == "" {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	t.Cleanup(stop)
	waitListen(t, ns, "t", "5000", 1)
	return stop
}

// firewall replaces the control point's ruleset: objects and assign are
// the helper objects and the output rule that assigns them to the
// searches; openIn and openOut are accept rules for the steps without
// the helper.
func (n *upnpLAN) firewall(t *testing.T, objects, assign, openIn, openOut string) {
	rs := "flush ruleset\ntable inet gonfct_fw {\n" + objects +
		"\tchain out {\n\t\ttype filter hook output priority 0; policy accept;\n" + assign +
		"\t\tct state established,related accept\n\t\toif lo accept\n" + openOut + "\t\tmeta l4proto tcp ct state new drop\n\t}\n" +
		"\tchain in {\n\t\ttype filter hook input priority 0; policy drop;\n" +
		"\t\tct state established,related accept\n\t\tiif lo accept\n\t\tmeta l4proto ipv6-icmp accept\n" + openIn + "\t}\n}\n"
	f := filepath.Join(t.TempDir(), "fw.nft")
	if err := os.WriteFile(f, []byte(rs), 0o644); err != nil {
		t.Fatal(err)
	}
	n.cp.MustRun("nft", "-f", f)
	n.cp.MustRun("conntrack", "-F", "expect")
	n.cp.MustRun("conntrack", "-F")
}

// upnpc searches the link and reads the found device's description and
// status ("upnpc -s").
func (n *upnpLAN) upnpc(f upnpFamily) string {
	args := []string{"-s", "KILL", "60", "upnpc"}
	if f.upnpcFlag != "" {
		args = append(args, f.upnpcFlag)
	}
	out, _ := n.cp.Run("timeout", append(args, "-m", "cv", "-s")...)
	return out
}

// upnpcFound reports what upnpc got: the search answer (the device's
// LOCATION), and the description (the control URL it names) with the
// status read over SOAP.
func upnpcFound(f upnpFamily, out string) (answer, description bool) {
	return strings.Contains(out, "desc: http://"+f.dev+":5000/rootDesc.xml"),
		strings.Contains(out, "Found valid IGD : http://"+f.dev+":5000/ctl/IPConn") && strings.Contains(out, "ExternalIPAddress = 93.184.216.34")
}

// upnpSubscribe sends curl's SUBSCRIBE from ns to the WANIPConnection
// events (eventSubURL /evt/IPConn in miniupnpd's description) with the
// control point's callback, and returns the SID miniupnpd answered (""
// if none).
func upnpSubscribe(ns *nstest.NS, f upnpFamily) (sid, out string) {
	out, _ = ns.Run("curl", "-sS", "-i", "-g", "--max-time", "20", "-X", "SUBSCRIBE",
		"-H", "CALLBACK: <http://"+f.cp+":42000/notify>", "-H", "NT: upnp:event", "-H", "TIMEOUT: Second-300",
		"http://"+f.dev+":5000/evt/IPConn")
	for _, l := range strings.Split(out, "\n") {
		if len(l) > 4 && strings.EqualFold(l[:4], "SID:") {
			sid = strings.TrimSpace(l[4:])
		}
	}
	return sid, out
}

// upnpNotified waits up to d for the callback to log (in the file log) a
// NOTIFY of subscription sid from the device's address, with the HOST
// header host if not "".
func upnpNotified(log string, f upnpFamily, sid, host string, d time.Duration) (bool, string) {
	dev := strings.Trim(f.dev, "[]")
	for deadline := time.Now().Add(d); ; {
		b, _ := os.ReadFile(log)
		for _, l := range strings.Split(string(b), "\n") {
			// NOTIFY from ADDR SID sid NT nt HOST host; IPv4 peers as
			// ::ffff:a.b.c.d.
			w := strings.Fields(l)
			if len(w) == 9 && strings.TrimPrefix(w[2], "::ffff:") == dev && w[4] == sid && w[6] == "upnp:event" && (host == "" || w[8] == host) {
				return true, string(b)
			}
		}
		if time.Now().After(deadline) {
			return false, string(b)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

const (
	ssdpObjects = "\tct helper ssdp-std { type \"ssdp\" protocol udp; l3proto inet; }\n"
	ssdpAssign  = "\t\tudp dport 1900 ct helper set \"ssdp-std\"\n"
)

func TestRunSSDPEndToEnd(t *testing.T) {
	ownHelpers(t)
	start := time.Now()
	phase := func(what string) { t.Logf("%v: %s", time.Since(start).Round(time.Millisecond), what) }
	n := newUPnPLAN(t)
	phase("miniupnpd and the callback listen")
	// The expected connections are helped too, by the helper object of
	// their own protocol (of the master's on kernels before the 2026
	// expectation fixes): both the udp and the tcp objects must exist.
	// Over IPv6 miniupnpd answers from its link-local address and names
	// its global one: loose=yes.
	eng := startRun(t, n.cp, "--helper", "ssdp:inet:udp:queue=71", "--helper", "ssdp:inet:tcp:queue=72",
		"--helper", "ssdp:inet6:udp:queue=73:loose=yes", "--helper", "ssdp:inet6:tcp:queue=74",
		"--metrics", ssdpMetrics, "--log-level", "debug")
	phase("gonfct run ready")

	// The helper not assigned: each step fails at the expectation it
	// lacks, while a rule opening the firewall for it shows the rest works.
	for _, f := range upnpFamilies {
		n.firewall(t, ssdpObjects, "", "", "")
		if answer, _ := upnpcFound(f, n.upnpc(f)); answer {
			t.Errorf("%s: the search answer came in without the helper", f.name)
		}
		n.firewall(t, ssdpObjects, "", "\t\tudp sport 1900 accept\n", "")
		if out := n.upnpc(f); !strings.Contains(out, "desc: http://"+f.dev+":5000/rootDesc.xml") {
			t.Errorf("%s: upnpc got no search answer with the answers let in by a rule:\n%s", f.name, out)
		} else if _, desc := upnpcFound(f, out); desc {
			t.Errorf("%s: upnpc read the description without the helper:\n%s", f.name, out)
		}
		n.firewall(t, ssdpObjects, "", "\t\tudp sport 1900 accept\n", "\t\ttcp dport 5000 accept\n")
		if answer, desc := upnpcFound(f, n.upnpc(f)); !answer || !desc {
			t.Errorf("%s: upnpc did not find the device with its answers and connections let in by rules", f.name)
		}
		sid, out := upnpSubscribe(n.cp, f)
		if sid == "" {
			t.Errorf("%s: SUBSCRIBE with the connection let in by a rule: no SID\n%s", f.name, out)
		} else if ok, log := upnpNotified(n.notify, f, sid, "", 15*time.Second); ok {
			t.Errorf("%s: the NOTIFY came in without the helper:\n%s", f.name, log)
		}
	}
	phase("steps without the helper done")

	// The helper assigned: search answers, description and SOAP, SUBSCRIBE
	// and NOTIFY, each only through an expectation.
	n.firewall(t, ssdpObjects, ssdpAssign, "", "")
	for _, f := range upnpFamilies {
		out := n.upnpc(f)
		answer, desc := upnpcFound(f, out)
		if !answer || !desc {
			t.Errorf("%s: upnpc with gonfct run: answer %v, description %v:\n%s\nexpectations:\n%s", f.name, answer, desc, out, expectations(n.cp))
			continue
		}
		// Right after: the LOCATION expectation lives as long as its
		// master, the answer's UDP conntrack (30 s unreplied).
		sid, sout := upnpSubscribe(n.cp, f)
		if sid == "" {
			t.Errorf("%s: SUBSCRIBE with gonfct run: no SID\n%s\nexpectations:\n%s", f.name, sout, expectations(n.cp))
			continue
		}
		if ok, log := upnpNotified(n.notify, f, sid, "", 30*time.Second); !ok {
			t.Errorf("%s: no NOTIFY for %s with gonfct run; callback log:\n%s\nexpectations:\n%s", f.name, sid, log, expectations(n.cp))
			continue
		}
		// The search's and the LOCATION expectations (permanent; over
		// IPv6 from any source: upnpc connects from its global address,
		// the answer went to its link-local one) and the NOTIFY's renewal
		// of the callback's.
		e := expectations(n.cp)
		dev, src := strings.Trim(f.dev, "[]"), "src="+strings.Trim(f.cp, "[]")+" "
		if f.name == "IPv6" {
			src = "src=:: "
		}
		if !hasExpect(e, "proto=17 ", "PERMANENT", "helper=ssdp") ||
			!hasExpect(e, "proto=6 ", src, "dst="+dev+" ", "dport=5000 ", "PERMANENT", "helper=ssdp") ||
			!hasExpect(e, "proto=6 ", "src="+dev+" ", "dport=42000 ", "helper=ssdp") {
			cts, _ := n.cp.Run("conntrack", "-L", "-f", map[string]string{"IPv4": "ipv4", "IPv6": "ipv6"}[f.name])
			t.Errorf("%s: no search, LOCATION or callback expectation:\n%s\nconntracks:\n%s", f.name, e, cts)
		}
		t.Logf("%s: search answer, description, SUBSCRIBE and NOTIFY (%s) through gonfct run; expectations:\n%s", f.name, sid, e)
	}
	phase("steps with gonfct run done")
	t.Logf("gonfct run's metrics:\n%s", metricsText(ssdpMetrics))

	eng.stop(t)
	n.cp.MustRun("conntrack", "-F", "expect")
	n.cp.MustRun("conntrack", "-F")
	for _, f := range upnpFamilies {
		if answer, _ := upnpcFound(f, n.upnpc(f)); answer {
			t.Errorf("%s: the search answer came in with gonfct run stopped", f.name)
		}
		if sid, out := upnpSubscribe(n.cp, f); sid != "" {
			t.Errorf("%s: SUBSCRIBE got through with gonfct run stopped:\n%s", f.name, out)
		}
	}
	phase("steps with gonfct run stopped done")

	// loose on a kernel: without it the IPv6 answer (from the device's
	// link-local address, naming its global one) makes no LOCATION
	// expectation, and the description cannot be read.
	eng = startRun(t, n.cp, "--helper", "ssdp:inet6:udp:queue=73", "--helper", "ssdp:inet6:tcp:queue=74")
	n.firewall(t, ssdpObjects, ssdpAssign, "", "")
	f := upnpFamilies[1]
	if answer, desc := upnpcFound(f, n.upnpc(f)); !answer || desc {
		t.Errorf("%s without loose=yes: answer %v (want true), description %v (want false)", f.name, answer, desc)
	}
	eng.stop(t)
	phase("IPv6 without loose=yes done")
}

// ssdpMetrics is where gonfct run serves its metrics (in the VM's own
// namespace: --netns moves only its netlink sockets).
const ssdpMetrics = "127.0.0.1:19471"

// metricsText is the samples (no comments) of a metrics endpoint.
func metricsText(addr string) string {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var keep []string
	for _, l := range strings.Split(string(b), "\n") {
		if l != "" && !strings.HasPrefix(l, "#") {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n")
}

// hasExpect reports whether a line of `conntrack -L expect` has every part.
func hasExpect(list string, parts ...string) bool {
	for _, l := range strings.Split(list, "\n") {
		all := true
		for _, p := range parts {
			all = all && strings.Contains(l, p)
		}
		if all {
			return true
		}
	}
	return false
}
