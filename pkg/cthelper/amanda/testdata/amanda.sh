#!/usr/bin/env bash
# A throw-away Amanda installation (Debian's amanda-server and
# amanda-client) for the capture (capture.sh) and the VM scenario
# (internal/e2e/amanda_vm_test.go). Run as root.
#
#   amanda.sh config DIR AUTH DELAY SERVER_NAME SERVER_ADDR CLIENT_NAME CLIENT_ADDR
#       writes the configuration (auth bsd or bsdudp), a small directory
#       to back up and a vtape changer under DIR; DELAY > 0 makes the
#       client wait that many seconds before its estimate (an Amanda
#       pre-dle-estimate script), between its ACK and its REP
#   amanda.sh client DIR      (in the client's netns) amandad behind
#       openbsd-inetd on UDP 10080, auth bsdudp; runs in the foreground
#   amanda.sh dump DIR        (in the server's netns) amdump as the backup
#       user, then prints the run's report and the vtape's dump files
#
# Amanda keeps its state at fixed paths (/etc/amanda, /var/lib/amanda,
# /var/log/amanda, ~backup/.amandahosts) and resolves host names: each
# side runs in a mount namespace of its own with DIR's files bound over
# those paths and over /etc/hosts, so the host's are never touched.
set -euo pipefail

# inns DIR CMD...: CMD in a new mount namespace with DIR's files in place.
inns() {
	local dir=$1
	shift
	exec unshare -m --propagation private sh -c '
		d=$1; shift
		mount --bind "$d/hosts" /etc/hosts
		mount --bind "$d/services" /etc/services
		mount --bind "$d/amandahosts" /etc/amandahosts
		mount --bind "$d/etc" /etc/amanda
		mount --bind "$d/lib" /var/lib/amanda
		mount --bind "$d/log" /var/log/amanda
		exec "$@"' inns "$dir" "$@"
}

case ${1:-} in
config)
	[ $# -eq 8 ] || { echo "usage: amanda.sh config DIR AUTH DELAY SERVER_NAME SERVER_ADDR CLIENT_NAME CLIENT_ADDR" >&2; exit 2; }
	dir=$2 auth=$3 delay=$4 sname=$5 saddr=$6 cname=$7 caddr=$8
	mkdir -p "$dir"/{etc/gonfct,lib/gnutar-lists,lib/vtapes/slot1,lib/vtapes/slot2,lib/data/sub,log}
	printf '127.0.0.1 localhost\n%s %s\n%s %s\n' "$saddr" "$sname" "$caddr" "$cname" >"$dir/hosts"
	# Debian bookworm's /etc/services names amanda for TCP only; without
	# the UDP entry the server sends its requests to a wrong port.
	{ grep -v '^amanda[[:space:]]' /etc/services; printf 'amanda\t\t10080/udp\namanda\t\t10080/tcp\n'; } >"$dir/services"
	# The client lets the server's backup user run amdump.
	printf '%s backup amdump\n' "$sname" >"$dir/amandahosts"
	: >"$dir/lib/amandates"
	for i in $(seq 1 40); do echo "gonfct amanda test file $i" >"$dir/lib/data/f$i.txt"; done
	head -c 200000 /dev/urandom >"$dir/lib/data/sub/random.bin"
	cat >"$dir/etc/gonfct/amanda.conf" <<-EOF
		org "gonfct"
		dumpuser "backup"
		mailto ""
		dumpcycle 0
		runspercycle 1
		tapecycle 2
		runtapes 1
		tpchanger "chg-disk:/var/lib/amanda/vtapes"
		labelstr "^gonfct-[0-9][0-9]*\$"
		autolabel "gonfct-%%" empty
		tapetype "vtape"
		infofile "/etc/amanda/gonfct/curinfo"
		logdir "/etc/amanda/gonfct/log"
		indexdir "/etc/amanda/gonfct/index"
		etimeout 120
		dtimeout 300
		ctimeout 60
		define tapetype vtape {
			length 100 mbytes
		}
		define script "gonfct-delay" {
			plugin "../../../../var/lib/amanda/delay-script"
			execute-on pre-dle-estimate
			execute-where client
		}
		define dumptype gonfct-tar {
			program "GNUTAR"
			auth "$auth"
			compress none
			index yes
			record no
			$([ "$delay" -gt 0 ] && echo 'script "gonfct-delay"')
		}
	EOF
	# Amanda runs scripts from its application directory only: the
	# plugin name above climbs out of it to this one.
	printf '#!/bin/sh\n[ "$1" = PRE-DLE-ESTIMATE ] && sleep %d\nexit 0\n' "$delay" >"$dir/lib/delay-script"
	chmod 755 "$dir/lib/delay-script"
	printf '%s /var/lib/amanda/data gonfct-tar\n' "$cname" >"$dir/etc/gonfct/disklist"
	mkdir -p "$dir/etc/gonfct/log" "$dir/etc/gonfct/index" "$dir/etc/gonfct/curinfo"
	printf 'amanda dgram udp wait backup /usr/lib/amanda/amandad amandad -auth=%s amdump\n' "$auth" >"$dir/inetd.conf"
	chown -R backup:backup "$dir"
	chmod 600 "$dir/amandahosts"
	chown root "$dir/hosts" "$dir/services" "$dir/inetd.conf"
	;;
client)
	inns "$2" /usr/sbin/inetd -i "$2/inetd.conf"
	;;
dump)
	dir=$2
	# amdump's exit status is a bit field (4: a dump failed, ...): the
	# report says what went wrong; the caller checks the vtape.
	(inns "$dir" setpriv --reuid backup --regid backup --init-groups /usr/sbin/amdump gonfct) || echo "amdump exit status $?"
	# The run's trace log (amdump moves it to oldlog when no tape was
	# written).
	cat "$dir"/etc/gonfct/log/log.* "$dir"/etc/gonfct/log/oldlog/log.* 2>/dev/null || true
	ls -lR "$dir/lib/vtapes"
	;;
*)
	echo "usage: amanda.sh config|client|dump DIR ..." >&2
	exit 2
	;;
esac
