#!/usr/bin/env bash
# Regenerates the mdns test capture: a one-shot ("legacy unicast") mDNS
# query from Debian's dig (package bind9-dnsutils), from an ephemeral port
# to 224.0.0.251:5353, in a throw-away network namespace (root) whose
# multicast goes to a veth pair nothing answers on. (dig cannot send to
# ff02::fb: the IPv6 tests put the same query on an IPv6 flow.)
set -euo pipefail
cd "$(dirname "$0")"
ns=gonfct-mdns-capture
ip netns add $ns; trap 'ip netns del $ns' EXIT
ip -n $ns link set lo up
ip -n $ns link add v0 type veth peer name v1
ip -n $ns addr add 192.0.2.1/24 dev v0; ip -n $ns addr add 2001:db8::1/64 dev v0 nodad
ip -n $ns link set v0 up; ip -n $ns link set v1 up
ip -n $ns route add 224.0.0.0/4 dev v0
sleep 2 # IPv6 link-local address
cap() { # name dig-args...
  local name=$1; shift
  ip netns exec $ns tcpdump -i v0 -s0 -U --immediate-mode -c 1 -w "$name.pcap" udp port 5353 2>/dev/null & local td=$!
  sleep 1; ip netns exec $ns timeout 5 dig +tries=1 +time=1 "$@" >/dev/null 2>&1 || true; sleep 1; kill $td 2>/dev/null || true; wait $td 2>/dev/null || true
  [ "$(stat -c %s "$name.pcap")" -gt 24 ] || { echo "capture.sh: $name.pcap is empty" >&2; exit 1; }
}
cap query4 -p 5353 @224.0.0.251 gonfct-printer.local A
