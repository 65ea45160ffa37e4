#!/bin/bash
# Guest side of `make vmtest` (started by scripts/vm/suite through
# scripts/vmtest, cwd = repo root): runs every test binary listed in
# BINDIR/manifest from its package directory, then every executable
# scripts/vm/scenarios/*.sh from the repo root, and prints a summary.
set -u
bindir=${1:?usage: suite-guest.sh BINDIR}
# A cache under the host's /tmp or /run is only visible through the raw host
# root that scripts/vmtest mounts at /run/vmtest/host.
if [[ ! -d $bindir && -d /run/vmtest/host$bindir ]]; then
	bindir=/run/vmtest/host$bindir
fi
repo=$(pwd)
results=()
pass=0 fail=0

run_one() {
	# $1 label, $2 dir, rest: command
	local label=$1 dir=$2
	shift 2
	echo "=== vmtest: RUN $label"
	local t0=$SECONDS rc=0
	(cd "$dir" && "$@") || rc=$?
	local dt=$((SECONDS - t0))
	if ((rc == 0)); then
		results+=("PASS $label (${dt}s)")
		pass=$((pass + 1))
	else
		results+=("FAIL $label (exit $rc, ${dt}s)")
		fail=$((fail + 1))
	fi
	echo "=== vmtest: END $label exit=$rc ${dt}s"
}

# shellcheck disable=SC2086
if [[ -f $bindir/manifest ]]; then
	while IFS=$'\t' read -r name dir; do
		[[ -n $name ]] || continue
		run_one "$name.test" "$repo/$dir" "$bindir/$name.test" -test.v -test.count=1 \
			-test.timeout="${GONFCT_VMTEST_GO_TIMEOUT:-72m}" ${GONFCT_VMTEST_GOFLAGS:-} </dev/null
	done <"$bindir/manifest"
fi

for s in "$repo"/scripts/vm/scenarios/*.sh; do
	[[ -f $s && -x $s ]] || continue
	run_one "scenario $(basename "$s")" "$repo" "$s" </dev/null
done

echo
echo "=== vmtest summary"
printf '%s\n' "${results[@]}"
echo "vmtest: $pass passed, $fail failed"
((fail == 0))
