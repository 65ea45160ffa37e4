#!/usr/bin/env bash
# Regenerates the sane test capture from Debian's saned and scanimage (the
# SANE "test" backend behind saned, scanimage on the "net" backend) in a
# throw-away network namespace (root). One small scan: control connection
# to port 6566, SANE_NET_START, and the data connection to the port saned
# announces.
set -euo pipefail
cd "$(dirname "$0")"
ns=gonfct-sane-capture
srv=$(mktemp -d); cli=$(mktemp -d)
ip netns add $ns; trap 'kill $saned 2>/dev/null; ip netns del $ns; rm -rf "$srv" "$cli"' EXIT
ip -n $ns link set lo up
# saned serves the test backend; the client reaches it through net.
printf 'test\n' > "$srv/dll.conf"; printf '127.0.0.1\n::1\n' > "$srv/saned.conf"
printf 'number_of_devices 1\n' > "$srv/test.conf"
printf 'net\n' > "$cli/dll.conf"; printf 'connect_timeout = 5\n127.0.0.1\n' > "$cli/net.conf"
SANE_CONFIG_DIR=$srv ip netns exec $ns saned -l -p 6566 -u root & saned=$!
sleep 1
ip netns exec $ns tcpdump -i lo -s0 -U --immediate-mode -w scan.pcap tcp 2>/dev/null & td=$!
sleep 1
SANE_CONFIG_DIR=$cli ip netns exec $ns scanimage -d net:127.0.0.1:test:0 --mode Gray --resolution 25 -x 8 -y 8 --format=pnm >/dev/null
sleep 1; kill $td; wait $td 2>/dev/null || true
