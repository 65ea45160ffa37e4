#!/bin/sh
# firewall-boot.sh — a drop-by-default firewall whose FTP works
# through gonfct's user-space helpers. Run it at boot, before or after
# `gonfct run` (gonfct.service): it makes the helper objects the ruleset
# names, and `gonfct run` enables them once it serves their queues. Until
# then the helpers let packets pass un-helped, so nothing is blocked that
# the ruleset would not block anyway.
#
#   GONFCT=/usr/local/bin/gonfct ./firewall-boot.sh
#
# Queue numbers must match /etc/gonfct/helpers.conf (QueueNum).
set -eu
GONFCT=${GONFCT:-gonfct}

# 1. The helper objects, each family the rules name (a family left out
#    makes the kernel try its own ftp helper module). An existing one is kept as it
#    is: `gonfct run` may have enabled it already.
helper() { # NAME FAMILY PROTO QUEUE
	"$GONFCT" helper get "$1" "$2" "$3" >/dev/null 2>&1 ||
		"$GONFCT" helper add "$1" "$2" "$3" --queue "$4"
}
helper ftp inet tcp 1
helper ftp inet6 tcp 2

# 2. The filter: drop by default; accept what belongs to known
#    connections, which includes the data connections the helpers expect
#    (ct state related). Loading the table again replaces it.
nft -f - <<'NFT'
table inet filter
delete table inet filter
table inet filter {
	chain input {
		type filter hook input priority filter; policy drop;
		ct state established,related accept
		ct state invalid drop
		iif lo accept
		meta l4proto { icmp, ipv6-icmp } accept
		tcp dport { 21, 22 } accept
	}
	chain forward {
		type filter hook forward priority filter; policy drop;
		ct state established,related accept
	}
	chain output {
		type filter hook output priority filter; policy accept;
	}
}
NFT

# 3. Assign the helpers to their control connections (table inet gonfct).
"$GONFCT" rules ftp | nft -f -
