//go:build vmtest

package e2e

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// ssdpSearchPy sends one unicast M-SEARCH to argv[1] port 1900 and prints
// the LOCATION of the answer.
const ssdpSearchPy = `
import socket, sys
host = sys.argv[1]
s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(5)
h = "[%s]" % host if ":" in host else host
s.sendto(('M-SEARCH * HTTP/1.1\r\nHOST: %s:1900\r\nMAN: "ssdp:discover"\r\nMX: 1\r\nST: upnp:rootdevice\r\n\r\n' % h).encode(), (host, 1900))
for l in s.recv(4096).decode().split("\r\n"):
    if l.upper().startswith("LOCATION:"):
        print("LOCATION", l[9:].strip())
`

// ssdpEventPy is an event server on port 5001 (IPv4 and IPv6) that keeps
// HTTP/1.1 connections open (miniupnpd closes each after one answer):
// it answers a SUBSCRIBE with a SID and the CALLBACK header it received.
const ssdpEventPy = `
import http.server, socket
class Events(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_SUBSCRIBE(self):
        self.send_response(200)
        self.send_header("SID", self.headers.get("SID") or "uuid:gonfct-event")
        self.send_header("X-Callback-Seen", self.headers.get("CALLBACK", "none"))
        self.send_header("Content-Length", "0"); self.end_headers()
    def log_message(self, *args): pass
class Server(http.server.ThreadingHTTPServer):
    address_family = socket.AF_INET6
Server(("::", 5001), Events).serve_forever()
`

// ssdpSubscribeRenewPy subscribes on one connection to argv[1] port 5001
// with the callback URL host argv[2], then renews the subscription three
// times on the same connection, printing each answer.
const ssdpSubscribeRenewPy = `
import socket, sys
host, cb = sys.argv[1], sys.argv[2]
c = socket.create_connection((host.strip("[]"), 5001), timeout=10)
f = c.makefile("rb")
def ask(extra):
    c.sendall(("SUBSCRIBE /evt HTTP/1.1\r\nHOST: %s:5001\r\n%s\r\n" % (host, extra)).encode())
    status, hdrs = f.readline().decode().strip(), {}
    while True:
        l = f.readline().decode().strip()
        if not l:
            return status, hdrs
        k, v = l.split(":", 1); hdrs[k.strip().upper()] = v.strip()
try:
    status, h = ask("CALLBACK: <http://%s:42000/notify>\r\nNT: upnp:event\r\nTIMEOUT: Second-300\r\n" % cb)
    print("subscribe:", status, "callback seen", h.get("X-CALLBACK-SEEN"), flush=True)
    for i in range(3):
        status, _ = ask("SID: %s\r\nTIMEOUT: Second-300\r\n" % h["SID"])
        print("renewal %d:" % (i + 1), status, flush=True)
except (OSError, KeyError) as e:
    print("failed:", e)
`

// ssdp through NAT whose addresses change length, with miniupnpd as the
// device on the server side of the routed firewall and the control point
// on the client side.
//
// CALLBACK under source NAT: the control point, masqueraded, subscribes
// with its own address in the CALLBACK URL; the helper rewrites it to the
// router's (longer), miniupnpd sends its NOTIFY there, and the
// expectation translates it back to the control point. miniupnpd answers
// the SUBSCRIBE on the connection the rewrite shifted, and closes it (it
// closes every HTTP connection after one answer); ssdpEventPy keeps the
// connection open, and three renewals follow the rewritten SUBSCRIBE on
// it.
//
// LOCATION under destination NAT: the control point searches the router's
// address (unicast M-SEARCH, translated to the device); miniupnpd's answer
// names its own address, which the helper rewrites to the searched one
// (shorter), and the control point's connections to it reach the device
// through the expectation's NAT. The UDP rewrite needs no sequence
// adjustment; the description is fetched twice (two connections).
func TestRunSSDPThroughLengthChangingNAT(t *testing.T) {
	ownHelpers(t)
	a := lenAddrs
	n := newRoutedNetAt(t, a)
	n.cli.MustRun("sysctl", "-qw", "net.ipv4.tcp_syn_retries=1")
	notify := filepath.Join(t.TempDir(), "notify.log")
	daemon(t, n.cli, "/usr/bin/python3", "-c", upnpCallbackPy, notify)
	waitListen(t, n.cli, "t", "42000", 1)
	daemon(t, n.srv, "/usr/bin/python3", "-c", ssdpEventPy)
	waitListenFor(t, n.srv, "t", "5001", 1, 120*time.Second)
	conf := strings.ReplaceAll(miniupnpdConf, "=dv", "=sr")
	stopDevice := startMiniupnpd(t, n.srv, conf)
	eng := startRun(t, n.rtr, "--helper", "ssdp:inet:udp:queue=75", "--helper", "ssdp:inet:tcp:queue=76",
		"--helper", "ssdp:inet6:udp:queue=77", "--helper", "ssdp:inet6:tcp:queue=78")
	const objects = "\tct helper ssdp-udp { type \"ssdp\" protocol udp; l3proto inet; }\n\tct helper ssdp-tcp { type \"ssdp\" protocol tcp; l3proto inet; }\n"
	families := []struct {
		upnpFamily
		rtrs, rtrc string // the router's addresses, as in a URL
	}{
		{upnpFamily{"IPv4", "", a.cli4, a.srv4}, a.rtr4s, a.rtr4c},
		{upnpFamily{"IPv6", "-6", "[" + a.cli6 + "]", "[" + a.srv6 + "]"}, "[" + a.rtr6s + "]", "[" + a.rtr6c + "]"},
	}

	subscribeAll := func(stopped bool) {
		for _, f := range families {
			out, _ := n.cli.Run("timeout", "-s", "KILL", "40", "/usr/bin/python3", "-c", ssdpSubscribeRenewPy, f.dev, f.cp)
			if stopped {
				if strings.Contains(out, f.rtrs) {
					t.Errorf("%s: CALLBACK rewritten without gonfct run:\n%s", f.name, out)
				}
			} else {
				requireLines(t, f.name+": SUBSCRIBE and renewals on one connection through the masquerade", out,
					"subscribe: HTTP/1.1 200 OK callback seen <http://"+f.rtrs+":42000/notify>",
					"renewal 1: HTTP/1.1 200 OK", "renewal 2: HTTP/1.1 200 OK", "renewal 3: HTTP/1.1 200 OK")
			}
			sid, out := upnpSubscribe(n.cli, f.upnpFamily)
			if stopped {
				if sid != "" {
					if ok, log := upnpNotified(notify, f.upnpFamily, sid, "", 15*time.Second); ok {
						t.Errorf("%s: NOTIFY through the masquerade without gonfct run:\n%s", f.name, log)
					}
				}
				continue
			}
			if sid == "" {
				t.Errorf("%s: SUBSCRIBE through the masquerade: no SID\n%s\nexpectations:\n%s", f.name, out, expectations(n.rtr))
				continue
			}
			// The device was told the router's address: the NOTIFY's
			// HOST header.
			if ok, log := upnpNotified(notify, f.upnpFamily, sid, f.rtrs+":42000", 30*time.Second); !ok {
				t.Errorf("%s: no NOTIFY for %s to %s:42000 through the masquerade; callback log:\n%s\nexpectations:\n%s", f.name, sid, f.rtrs, log, expectations(n.rtr))
			}
		}
	}
	const subAssign, subAllow = "\t\ttcp dport { 5000, 5001 } ct helper set \"ssdp-tcp\"\n", "\t\ttcp dport { 5000, 5001 } ct state new accept\n"
	n.firewallNAT(t, objects, subAssign, subAllow, masquerade)
	subscribeAll(false)
	for _, re := range []string{ctTuple(a.cli4, a.srv4, "5000") + ctTuple(a.srv4, a.rtr4s, ""), ctTuple(a.cli6, a.srv6, "5000") + ctTuple(a.srv6, a.rtr6s, "")} {
		if ok, ct := conntrackMatch(n.rtr, re); !ok {
			t.Errorf("no conntrack matching %s: the masquerade did not apply\n%s", re, ct)
		}
	}

	// search searches the router's address and fetches the description
	// from the LOCATION answered, twice.
	search := func(f upnpFamily, rtrc string, stopped bool) {
		out, _ := n.cli.Run("timeout", "-s", "KILL", "20", "/usr/bin/python3", "-c", ssdpSearchPy, strings.Trim(rtrc, "[]"))
		loc := "http://" + rtrc + ":5000/rootDesc.xml"
		if stopped {
			if strings.Contains(out, loc) {
				t.Errorf("%s: LOCATION rewritten without gonfct run:\n%s", f.name, out)
			}
			return
		}
		if !strings.Contains(out, "LOCATION "+loc) {
			t.Errorf("%s: search through DNAT: LOCATION not %s:\n%s", f.name, loc, out)
			return
		}
		for i := range 2 {
			desc, _ := n.cli.Run("curl", "-sS", "-g", "--max-time", "20", loc)
			if !strings.Contains(desc, "urn:schemas-upnp-org:device:InternetGatewayDevice:") {
				t.Errorf("%s: description %d from %s through DNAT:\n%s\nexpectations:\n%s", f.name, i+1, loc, desc, expectations(n.rtr))
			}
		}
	}
	dnat := dnatChain(a, "udp dport 1900")
	searchAll := func(stopped bool) {
		n.rtr.MustRun("nft", "delete", "table", "inet", "gonfct_fw")
		n.rtr.MustRun("conntrack", "-F")
		n.firewallNAT(t, objects, "\t\tudp dport 1900 ct helper set \"ssdp-udp\"\n", "\t\tudp dport 1900 ct state new accept\n", dnat)
		// miniupnpd serves HTTP to an IPv4 peer only from its LAN, which a
		// netmask of 0 makes every address; that configuration turns its
		// IPv6 off, so IPv6 goes first.
		search(families[1].upnpFamily, families[1].rtrc, stopped)
		stopDevice()
		stopDevice = startMiniupnpd(t, n.srv, conf+"listening_ip="+a.srv4+"/0\n")
		search(families[0].upnpFamily, families[0].rtrc, stopped)
		stopDevice()
		stopDevice = startMiniupnpd(t, n.srv, conf)
	}
	searchAll(false)
	for _, re := range []string{ctTuple(a.cli4, a.rtr4c, "5000") + ctTuple(a.srv4, a.cli4, ""), ctTuple(a.cli6, a.rtr6c, "5000") + ctTuple(a.srv6, a.cli6, "")} {
		if ok, ct := conntrackMatch(n.rtr, re); !ok {
			t.Errorf("no conntrack matching %s: the destination NAT did not apply\n%s", re, ct)
		}
	}

	eng.stop(t)
	searchAll(true)
	n.rtr.MustRun("nft", "delete", "table", "inet", "gonfct_fw")
	n.rtr.MustRun("conntrack", "-F")
	n.firewallNAT(t, objects, subAssign, subAllow, masquerade)
	subscribeAll(true)
}
