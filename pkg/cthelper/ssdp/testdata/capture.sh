#!/usr/bin/env bash
# Regenerates the ssdp test captures (root; Debian packages miniupnpc,
# miniupnpd, curl, tcpdump, python3), in throw-away network namespaces:
#
#   msearch4, msearch6  the M-SEARCH requests of Debian's UPnP client upnpc
#                       to 239.255.255.250:1900 and [ff02::c]:1900 on a
#                       veth pair that nothing answers on.
#   alive4              miniupnpd's multicast ssdp:alive NOTIFY announcements
#                       over IPv4 as it starts.
#   answer4, answer6    upnpc's search and the answers of Debian's UPnP
#                       device daemon miniupnpd with their LOCATION (over
#                       IPv6 from its link-local address, naming its
#                       global one).
#   event4, event6      curl's SUBSCRIBE to miniupnpd's event URL with a
#                       CALLBACK to the control point, miniupnpd's answer,
#                       and miniupnpd's NOTIFY to the callback (a small
#                       python3 HTTP server) with its answer.
set -euo pipefail
cd "$(dirname "$0")"
ns=gonfct-ssdp-capture cp=gonfct-ssdp-cp dev=gonfct-ssdp-dev
work=$(mktemp -d)
cleanup() {
  [ -f "$work/miniupnpd.pid" ] && kill "$(cat "$work/miniupnpd.pid")" 2>/dev/null
  [ -f "$work/notify.pid" ] && kill "$(cat "$work/notify.pid")" 2>/dev/null
  for n in $ns $cp $dev; do ip netns del $n 2>/dev/null; done
  rm -rf "$work"
}
trap cleanup EXIT
ip netns add $ns
ip -n $ns link set lo up
ip -n $ns link add v0 type veth peer name v1
ip -n $ns addr add 192.0.2.1/24 dev v0; ip -n $ns addr add 2001:db8::1/64 dev v0 nodad
ip -n $ns link set v0 up; ip -n $ns link set v1 up
ip -n $ns route add 239.0.0.0/8 dev v0
# cap NS IF NAME FILTER COMMAND...: capture COMMAND's packets.
cap() {
  local n=$1 ifc=$2 name=$3 filter=$4; shift 4
  ip netns exec "$n" tcpdump -i "$ifc" -s0 -U --immediate-mode -w "$name.pcap" "$filter" 2>/dev/null & local td=$!
  sleep 1; ip netns exec "$n" "$@" >/dev/null 2>&1 || true; sleep 2; kill $td; wait $td 2>/dev/null || true
  [ "$(stat -c %s "$name.pcap")" -gt 24 ] || { echo "capture.sh: $name.pcap is empty" >&2; exit 1; }
}
cap $ns v0 msearch4 "udp port 1900" timeout 10 upnpc -m v0 -l
cap $ns v0 msearch6 "udp port 1900" timeout 10 upnpc -6 -m v0 -l

# A control point (192.0.2.1) and a device (192.0.2.20) on one link.
for n in $cp $dev; do ip netns add $n; ip -n $n link set lo up; done
ip -n $dev link add dv type veth peer name cv netns $cp
ip -n $cp addr add 192.0.2.1/24 dev cv; ip -n $cp addr add 2001:db8::1/64 dev cv nodad
ip -n $dev addr add 192.0.2.20/24 dev dv; ip -n $dev addr add 2001:db8::20/64 dev dv nodad
ip -n $cp link set cv up; ip -n $dev link set dv up
ip -n $cp route add 239.0.0.0/8 dev cv
# miniupnpd refuses a private or reserved external address; the one it is
# given is never used (example.com's).
cat >"$work/miniupnpd.conf" <<CONF
ext_ifname=dv
ext_ip=93.184.216.34
listening_ip=dv
port=5000
enable_natpmp=no
secure_mode=no
system_uptime=yes
uuid=2fac1234-31f8-11b4-a222-08002b34c003
allow 1024-65535 0.0.0.0/0 1024-65535
CONF
# miniupnpd announces itself when it starts (ssdp:alive), then answers.
cap $dev dv alive4 "ip and udp port 1900" sh -c "miniupnpd -f $work/miniupnpd.conf -P $work/miniupnpd.pid && sleep 2"
cat >"$work/notify.py" <<'PY'
import http.server, socket, sys
class Callback(http.server.BaseHTTPRequestHandler):
    def do_NOTIFY(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200); self.send_header("Content-Length", "0"); self.end_headers()
class Server(http.server.HTTPServer):
    address_family = socket.AF_INET6
Server(("::", 42000), Callback).serve_forever()
PY
ip netns exec $cp /usr/bin/python3 "$work/notify.py" 2>/dev/null & echo $! >"$work/notify.pid"
for _ in $(seq 50); do ip netns exec $cp ss -Hlnt sport = :42000 | grep -q . && break; sleep 0.1; done
cap $cp cv answer4 "udp port 1900" timeout 10 upnpc -m cv -s
cap $cp cv answer6 "udp port 1900" timeout 10 upnpc -6 -m cv -s
subscribe() { # device-host callback-host
  echo curl -sS --max-time 5 -X SUBSCRIBE -H "'CALLBACK: <http://$2:42000/notify>'" -H "'NT: upnp:event'" -H "'TIMEOUT: Second-300'" "http://$1:5000/evt/IPConn"
}
cap $cp cv event4 "tcp port 5000 or tcp port 42000" sh -c "$(subscribe 192.0.2.20 192.0.2.1)"
cap $cp cv event6 "tcp port 5000 or tcp port 42000" sh -c "$(subscribe '[2001:db8::20]' '[2001:db8::1]')"
