#!/usr/bin/env bash
# Regenerates the slp test captures (root; tcpdump, python3): slppeer.py's
# user agent (192.0.2.1, 2001:db8::1) asks its service agent (192.0.2.20,
# 2001:db8::20) for service:printer and then for the attributes of the URL
# it got, by multicast over IPv4 and IPv6 and by unicast over IPv4, across
# a veth pair between two throw-away network namespaces. Captured on the
# user agent's side.
set -euo pipefail
cd "$(dirname "$0")"
ua=gonfct-slp-ua sa=gonfct-slp-sa
trap 'kill $srv 2>/dev/null; ip netns del $ua; ip netns del $sa' EXIT
for n in $ua $sa; do
  ip netns add $n; ip -n $n link set lo up
  ip netns exec $n sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
done
ip -n $ua link add u0 type veth peer name s0 netns $sa
ip -n $ua addr add 192.0.2.1/24 dev u0; ip -n $ua addr add 2001:db8::1/64 dev u0 nodad
ip -n $sa addr add 192.0.2.20/24 dev s0; ip -n $sa addr add 2001:db8::20/64 dev s0 nodad
ip -n $ua link set u0 up; ip -n $sa link set s0 up
sleep 2 # link-local addresses
ip netns exec $sa python3 slppeer.py sa s0 192.0.2.20 2001:db8::20 >/dev/null & srv=$!
for _ in $(seq 50); do ip netns exec $sa ss -Hlnu sport = :427 | grep -q . && break; sleep 0.1; done
cap() { # name ua-arguments...
  local name=$1; shift
  ip netns exec $ua tcpdump -i u0 -s0 -U --immediate-mode -w "$name.pcap" udp port 427 2>/dev/null & local td=$!
  sleep 1; ip netns exec $ua python3 slppeer.py ua "$@" >/dev/null; sleep 1; kill $td; wait $td 2>/dev/null || true
  [ "$(stat -c %s "$name.pcap")" -gt 200 ] || { echo "capture.sh: $name.pcap is too short" >&2; exit 1; }
}
cap multicast4 multicast 4 u0
cap multicast6 multicast 6 u0
cap unicast4 unicast 192.0.2.20
