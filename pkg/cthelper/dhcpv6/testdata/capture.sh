#!/usr/bin/env bash
# Regenerates the dhcpv6 test captures (root; dhcpcd-base and dnsmasq-base
# installed), each on a veth pair in throw-away network namespaces, with
# Debian's DHCP client dhcpcd run with a configuration file of its own:
#   solicit.pcap   dhcpcd soliciting an address (DHCPv6 Solicit from
#                  [fe80::...]:546 to [ff02::1:2]:547); nothing answers.
#   exchange.pcap  dhcpcd getting an address from Debian's dnsmasq on the
#                  other end of the link: Solicit, Advertise, Request,
#                  Reply, the answers from the server's link-local address.
set -euo pipefail
cd "$(dirname "$0")"
cli=gonfct-dhcpv6-capture srv=gonfct-dhcpv6-server
work=$(mktemp -d)
ip netns add $cli; ip netns add $srv
trap 'kill $(cat "$work"/dnsmasq.pid 2>/dev/null) 2>/dev/null || true; ip netns del $cli; ip netns del $srv; rm -rf "$work"; rm -f /var/lib/dhcpcd/v0.lease6' EXIT
ip -n $cli link set lo up
ip -n $cli link add v0 type veth peer name v1
ip -n $cli link set v0 up; ip -n $cli link set v1 up
sleep 2 # link-local address
printf 'ipv6only\nnoipv6rs\nnohook resolv.conf\nia_na 1\n' > "$work/conf"

# capture FILE COUNT TEST-MODE: tcpdump on v0 while dhcpcd runs once.
capture() {
	rm -f /var/lib/dhcpcd/v0.lease6 # start from a Solicit
	ip netns exec $cli tcpdump -i v0 -s0 -U --immediate-mode -c "$2" -w "$1" udp port 547 or udp port 546 2>/dev/null & td=$!
	sleep 1
	ip netns exec $cli timeout 15 dhcpcd -f "$work/conf" -c /bin/true -1 -B $3 -t 8 v0 >/dev/null 2>&1 || true
	sleep 1; kill $td 2>/dev/null || true; wait $td 2>/dev/null || true
	[ "$(stat -c %s "$1")" -gt 24 ] || { echo "capture.sh: $1 is empty" >&2; exit 1; }
}
capture solicit.pcap 1 -T

# The server end of the link moves to a namespace of its own, with an
# address whose prefix dnsmasq hands out.
ip -n $cli link set v1 netns $srv
ip -n $srv link set lo up; ip -n $srv link set v1 up
ip -n $srv addr add fd00:7a::1/64 dev v1 nodad
sleep 2
ip netns exec $srv dnsmasq --conf-file=/dev/null --port=0 --interface=v1 --bind-interfaces \
	--dhcp-range=fd00:7a::100,fd00:7a::1ff,64,10m --dhcp-leasefile="$work/leases" --pid-file="$work/dnsmasq.pid"
capture exchange.pcap 4 ""
