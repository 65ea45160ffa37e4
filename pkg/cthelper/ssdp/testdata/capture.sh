#!/usr/bin/env bash
# Regenerates the ssdp test captures: the M-SEARCH requests of Debian's
# UPnP client upnpc (package miniupnpc) to 239.255.255.250:1900 and
# [ff02::c]:1900, in a throw-away network namespace (root) whose multicast
# goes to a veth pair that nothing answers on.
set -euo pipefail
cd "$(dirname "$0")"
ns=gonfct-ssdp-capture
ip netns add $ns; trap 'ip netns del $ns' EXIT
ip -n $ns link set lo up
ip -n $ns link add v0 type veth peer name v1
ip -n $ns addr add 192.0.2.1/24 dev v0; ip -n $ns addr add 2001:db8::1/64 dev v0 nodad
ip -n $ns link set v0 up; ip -n $ns link set v1 up
ip -n $ns route add 239.0.0.0/8 dev v0
cap() { # name upnpc-args...
  local name=$1; shift
  ip netns exec $ns tcpdump -i v0 -s0 -U --immediate-mode -w "$name.pcap" udp port 1900 2>/dev/null & local td=$!
  sleep 1; ip netns exec $ns timeout 10 upnpc "$@" >/dev/null 2>&1 || true; sleep 1; kill $td; wait $td 2>/dev/null || true
  [ "$(stat -c %s "$name.pcap")" -gt 24 ] || { echo "capture.sh: $name.pcap is empty" >&2; exit 1; }
}
cap msearch4 -m v0 -l
cap msearch6 -6 -m v0 -l
