#!/bin/sh
# keepalived's notify script on a firewall that syncs with conntrackd:
# $1 is the firewall's directory (its conntrackd.conf, the log), $2 the new
# state. The sequence is the one of conntrackd's primary-backup example.
dir=$1
conf=$dir/conntrackd.conf
case $2 in
primary)
	conntrackd -C "$conf" -c   # commit the peer's conntracks and expectations
	conntrackd -C "$conf" -f   # flush the caches
	conntrackd -C "$conf" -R   # resync the internal cache with the kernel
	conntrackd -C "$conf" -B   # send a bulk update to the peer
	;;
backup)
	conntrackd -C "$conf" -t   # shorten the kernel's timers: purge what is left
	conntrackd -C "$conf" -n   # ask the peer for a resync
	;;
fault)
	conntrackd -C "$conf" -t
	;;
*)
	echo "usage: $0 DIR primary|backup|fault" >&2
	exit 2
	;;
esac
echo "$2 done" >>"$dir/notify.log"
