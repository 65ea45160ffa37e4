#!/usr/bin/env bash
# Regenerates the dhcpv6 test capture: Debian's DHCP client dhcpcd (package
# dhcpcd-base) soliciting an address (DHCPv6 Solicit from [fe80::...]:546
# to [ff02::1:2]:547) on a veth pair in a throw-away network namespace
# (root), with a configuration file of its own; nothing answers.
set -euo pipefail
cd "$(dirname "$0")"
ns=gonfct-dhcpv6-capture
conf=$(mktemp)
ip netns add $ns; trap 'ip netns del $ns; rm -f "$conf"' EXIT
ip -n $ns link set lo up
ip -n $ns link add v0 type veth peer name v1
ip -n $ns link set v0 up; ip -n $ns link set v1 up
sleep 2 # link-local address
printf 'ipv6only\nnoipv6rs\nnohook resolv.conf\nia_na 1\n' > "$conf"
ip netns exec $ns tcpdump -i v0 -s0 -U --immediate-mode -c 1 -w solicit.pcap udp port 547 2>/dev/null & td=$!
sleep 1
ip netns exec $ns timeout 8 dhcpcd -f "$conf" -1 -B -T -t 5 v0 >/dev/null 2>&1 || true
sleep 1; kill $td 2>/dev/null || true; wait $td 2>/dev/null || true
[ "$(stat -c %s solicit.pcap)" -gt 24 ] || { echo "capture.sh: solicit.pcap is empty" >&2; exit 1; }
