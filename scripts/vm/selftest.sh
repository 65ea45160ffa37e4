#!/bin/bash
# Self-test of the VM harness; runs INSIDE the guest:
#   scripts/vmtest -- scripts/vm/selftest.sh
# Checks that the guest kernel offers what the host kernel lacks (user-space
# conntrack helpers via nfnetlink_cthelper), that no kernel ftp helper is
# registered, and that namespaces and the netfilter sysctls are usable.
set -u

if [[ ${VMTEST:-} != 1 ]]; then
	echo "selftest.sh: run me inside the VM: scripts/vmtest -- $0" >&2
	exit 2
fi

pass=0 fail=0
check() {
	local desc=$1
	shift
	local out
	if out=$("$@" 2>&1); then
		echo "ok   - $desc"
		pass=$((pass + 1))
	else
		echo "FAIL - $desc"
		[[ -n $out ]] && printf '       %s\n' "${out//$'\n'/$'\n'       }"
		fail=$((fail + 1))
	fi
}

has_proc_netfilter() { [[ -d /proc/sys/net/netfilter ]]; }

cthelper_rpc() {
	nfct add helper rpc inet udp || return 1
	local list rc=0
	list=$(nfct list helper) || rc=1
	grep -q 'name = rpc' <<<"$list" || { echo "$list"; rc=1; }
	nfct delete helper rpc || rc=1
	if nfct list helper | grep -q 'name = rpc'; then
		echo "rpc helper still listed after delete"
		rc=1
	fi
	return $rc
}

# A kernel helper named "ftp" would make this add fail with EBUSY.
no_kernel_ftp_helper() {
	if grep -qE '^(nf_conntrack_ftp|nf_nat_ftp) ' /proc/modules; then
		echo "kernel ftp helper module is loaded"
		return 1
	fi
	nfct add helper ftp inet tcp || return 1
	nfct delete helper ftp
}

netns_add() {
	local ns=vmtest-selftest-$$
	ip netns add "$ns" || return 1
	local rc=0
	ip netns exec "$ns" ip link set lo up || rc=1
	ip netns exec "$ns" test -d /proc/sys/net/netfilter || rc=1
	ip netns del "$ns" || rc=1
	return $rc
}

unshare_net() {
	unshare -n sh -c 'ip link set lo up && ip -o link show | grep -c . | grep -qx 1'
}

dummy0_up() { ip -o -4 addr show dev dummy0 | grep -q inet; }

conntrack_list() { conntrack -L >/dev/null; }

iptables_raw_ct() {
	# xt_CT with a user-space helper: the target resolves the helper by name.
	unshare -n sh -c '
		nfct add helper rpc inet udp || exit 1
		iptables -t raw -A PREROUTING -p udp --dport 111 -j CT --helper rpc || exit 1
		iptables -t raw -S PREROUTING | grep -q -- "--helper rpc" || exit 1
		iptables -t raw -F PREROUTING
		nfct delete helper rpc'
}

nft_queue_ct() {
	unshare -n nft -f - <<'EOF'
table inet vmtest {
	chain pre {
		type filter hook prerouting priority 0;
		ct state new meta l4proto udp queue num 0 bypass
	}
}
EOF
}

# Kernel module autoloading goes through kmod's modprobe from the host root
# (nft_limit is not preloaded by scripts/vmtest).
module_autoload() {
	unshare -n nft add table ip t \; add chain ip t c \; add rule ip t c limit rate 10/second accept || return 1
	grep -q '^nft_limit ' /proc/modules
}

check "/proc/sys/net/netfilter exists" has_proc_netfilter
check "nfnetlink_cthelper: add/list/delete user-space helper rpc" cthelper_rpc
check "no kernel ftp helper registered" no_kernel_ftp_helper
check "ip netns add works" netns_add
check "unshare -n works" unshare_net
check "dummy0 is up with an address" dummy0_up
if command -v conntrack >/dev/null; then
	check "conntrack -L works" conntrack_list
fi
if command -v iptables >/dev/null; then
	check "iptables -j CT --helper with a user-space helper" iptables_raw_ct
fi
if command -v nft >/dev/null; then
	check "nft ct state + queue rule loads" nft_queue_ct
	check "kernel module autoload (nft_limit)" module_autoload
fi

echo "selftest: $pass passed, $fail failed"
((fail == 0))
