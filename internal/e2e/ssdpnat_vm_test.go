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

// ssdp through NAT whose addresses change length, with miniupnpd as the
// device on the server side of the routed firewall and the control point
// on the client side.
//
// CALLBACK under source NAT: the control point, masqueraded, subscribes
// with its own address in the CALLBACK URL; the helper rewrites it to the
// router's (longer), miniupnpd sends its NOTIFY there, and the
// expectation translates it back to the control point. miniupnpd answers
// the SUBSCRIBE on the connection the rewrite shifted, and closes it (it
// closes every HTTP connection after one answer).
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
	n.firewallNAT(t, objects, "\t\ttcp dport 5000 ct helper set \"ssdp-tcp\"\n", "\t\ttcp dport 5000 ct state new accept\n", masquerade)
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
	n.firewallNAT(t, objects, "\t\ttcp dport 5000 ct helper set \"ssdp-tcp\"\n", "\t\ttcp dport 5000 ct state new accept\n", masquerade)
	subscribeAll(true)
}
