#!/bin/sh
# keepalived's notify script on a firewall that moves conntracks with gonfct
# ct save/restore instead of conntrackd: $1 is the firewall's directory,
# where the peer's latest snapshot arrives as peer-state.json; $2 the new
# state. gonfct is looked for beside this script first.
dir=$1
PATH=$(dirname "$0"):$PATH
case $2 in
primary)
	# Load the peer's conntracks, with their helper and its private data,
	# and its expectations. Exit status 1 means some were skipped: the
	# summary (in the log) says which and why; go on regardless.
	gonfct ct restore "$dir/peer-state.json" >>"$dir/notify.log" 2>&1
	;;
backup|fault)
	# Forget this firewall's own conntracks, as conntrackd -t does: when it
	# is master again, the restore then creates them afresh. Entries left
	# from before would keep their old TCP window, and the kernel would
	# find the connection's current segments out of it.
	gonfct ct flush >>"$dir/notify.log" 2>&1
	;;
*)
	echo "usage: $0 DIR primary|backup|fault" >&2
	exit 2
	;;
esac
echo "$2 done" >>"$dir/notify.log"
