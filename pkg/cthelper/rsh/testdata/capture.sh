#!/usr/bin/env bash
# Regenerates the rsh test captures: Debian's rsh client (rsh-redone) runs
# a command on rshd.py, a minimal server speaking the rsh protocol, over
# IPv4 and IPv6, each in a throw-away network namespace (root).
set -euo pipefail
cd "$(dirname "$0")"
ns=gonfct-rsh-capture
cap() { # name family host
  ip netns add $ns; trap 'ip netns del $ns' EXIT
  ip -n $ns link set lo up
  # getaddrinfo(AI_ADDRCONFIG) ignores loopback: give the namespace a
  # non-loopback address (documentation range, never sent to).
  ip -n $ns link add v0 type veth peer name v1
  ip -n $ns addr add 192.0.2.1/32 dev v0; ip -n $ns addr add 2001:db8::1/128 dev v0 nodad; ip -n $ns link set v0 up
  ip netns exec $ns python3 rshd.py "$2" & local srv=$!
  ip netns exec $ns tcpdump -i lo -s0 -U --immediate-mode -w "$1.pcap" tcp 2>/dev/null & local td=$!
  for _ in $(seq 50); do ip netns exec $ns ss -ltn | grep -q ':514 ' && break; sleep 0.1; done
  sleep 1
  ip netns exec $ns timeout 10 rsh -l gonfct "$3" echo hello >/dev/null 2>&1 || true
  sleep 1; kill $td; wait $td 2>/dev/null || true; wait $srv || true
  ip netns del $ns; trap - EXIT
  [ "$(stat -c %s "$1.pcap")" -gt 1000 ] || { echo "capture.sh: $1.pcap is too short" >&2; exit 1; }
}
cap rsh4 4 127.0.0.1
cap rsh6 6 ::1
