#!/usr/bin/env bash
# Regenerates the tns test captures (root; tcpdump, python3): tnspeer.py's
# client follows its server's two redirects (the address inline in the
# REDIRECT, then in the DATA packet after an empty REDIRECT) and talks on
# the listener connection after each, over IPv4 and IPv6 on the loopback
# of a throw-away network namespace.
set -euo pipefail
cd "$(dirname "$0")"
ns=gonfct-tns-capture
ip netns add $ns; trap 'kill $srv 2>/dev/null; ip netns del $ns' EXIT
ip -n $ns link set lo up
ip netns exec $ns python3 tnspeer.py server >/dev/null & srv=$!
for _ in $(seq 50); do ip netns exec $ns ss -Hltn sport = :1521 | grep -q . && break; sleep 0.1; done
cap() { # name host
  ip netns exec $ns tcpdump -i lo -s0 -U --immediate-mode -w "$1.pcap" tcp 2>/dev/null & local td=$!
  sleep 1; ip netns exec $ns python3 tnspeer.py client "$2" 2 >/dev/null; sleep 1; kill $td; wait $td 2>/dev/null || true
  [ "$(stat -c %s "$1.pcap")" -gt 1000 ] || { echo "capture.sh: $1.pcap is too short" >&2; exit 1; }
}
cap redirect4 127.0.0.1
cap redirect6 ::1
