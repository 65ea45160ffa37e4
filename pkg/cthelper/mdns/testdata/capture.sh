#!/usr/bin/env bash
# Regenerates the mdns test captures (root; Debian packages bind9-dnsutils,
# ldnsutils, avahi-daemon, tcpdump), in two throw-away network namespaces
# on one veth pair: a querier (q0, 192.0.2.1, 2001:db8::1, a multicast
# route) and a responder (r0, 192.0.2.2, 2001:db8::2) where Debian's
# avahi-daemon runs by hand (own config, no D-Bus, a private /run)
# publishing the host name gonfct-printer.local.
#
#   query4.pcap   a one-shot ("legacy unicast") query from dig, from an
#                 ephemeral port to 224.0.0.251:5353: the query alone.
#   answer4.pcap  the same query from drill (ldnsutils) and avahi's unicast
#                 answer from 192.0.2.2:5353 to drill's port.
#   answer6.pcap  drill's query to [ff02::fb]:5353 and avahi's answer.
#
# dig (BIND 9.18) connects its UDP socket to the server, 224.0.0.251, so
# the kernel drops the answer from the responder's own address and dig
# times out: avahi answers it all the same. drill sends with sendto() and
# takes the answer from any address; it also sends to ff02::fb, which dig
# cannot.
set -euo pipefail
cd "$(dirname "$0")"
q=gonfct-mdns-capture-q r=gonfct-mdns-capture-r
conf=$(mktemp); avahi=
cleanup() {
  [ -n "$avahi" ] && kill "$avahi" 2>/dev/null && wait "$avahi" 2>/dev/null
  ip netns del $q 2>/dev/null; ip netns del $r 2>/dev/null; rm -f "$conf"
}
trap cleanup EXIT
ip netns add $q; ip netns add $r
ip -n $q link set lo up; ip -n $r link set lo up
ip -n $q link add q0 type veth peer name r0 netns $r
ip -n $q addr add 192.0.2.1/24 dev q0; ip -n $q addr add 2001:db8::1/64 dev q0 nodad
ip -n $r addr add 192.0.2.2/24 dev r0; ip -n $r addr add 2001:db8::2/64 dev r0 nodad
ip -n $q link set q0 up; ip -n $r link set r0 up
ip -n $q route add 224.0.0.0/4 dev q0
cat >"$conf" <<'EOF'
[server]
host-name=gonfct-printer
domain-name=local
allow-interfaces=r0
enable-dbus=no
[wide-area]
enable-wide-area=no
[publish]
publish-workstation=no
publish-hinfo=no
EOF
# avahi-daemon keeps its pid file and socket in /run/avahi-daemon: a
# private /run keeps them off the host's.
ip netns exec $r unshare -m sh -c 'mount -t tmpfs none /run && exec avahi-daemon -f "$1" --no-drop-root --no-chroot --no-rlimits' sh "$conf" >/dev/null 2>&1 &
avahi=$!
sleep 5 # link-local addresses, avahi's probing and announcing
cap() { # name packets querier-args...
  local name=$1 count=$2; shift 2
  ip netns exec $q tcpdump -Z root -i q0 -s0 -U --immediate-mode -c "$count" -w "$name.pcap" \
    "udp port 5353 and not (src port 5353 and dst port 5353)" 2>/dev/null & local td=$!
  sleep 1; ip netns exec $q timeout 10 "$@" >/dev/null 2>&1 || true; sleep 1; kill $td 2>/dev/null || true; wait $td 2>/dev/null || true
  local got; got=$(tcpdump -r "$name.pcap" 2>/dev/null | wc -l)
  [ "$got" -eq "$count" ] || { echo "capture.sh: $name.pcap has $got packets, want $count" >&2; exit 1; }
}
cap query4 1 dig +tries=1 +time=1 -p 5353 @224.0.0.251 gonfct-printer.local A
cap answer4 2 drill -p 5353 @224.0.0.251 gonfct-printer.local A
cap answer6 2 drill -6 -p 5353 @ff02::fb gonfct-printer.local AAAA
