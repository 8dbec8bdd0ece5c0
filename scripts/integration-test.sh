#!/usr/bin/env bash
# The lab's Go tests (test/integration), every binary they boot required (HK_REQUIRE_BINARIES=1:
# a missing build fails, never skips). Arguments: a regular expression of top-level tests to leave
# out (make test runs TestBackports per release, as each release is built).
#
# The 5-minute-bound test runs in a go test of its own, started first: among parallel tests go
# test hands out slots in no fixed order, and measured it got one 8 minutes in, ending the run
# 13 min after its start instead of the others' 5. Its output follows the others'.
set -uo pipefail
flags=(-count=1 -timeout 40m -parallel "${INTEGRATION_PARALLEL:-8}" -v)
bound=TestOutageLongerThanTheBoundExitsAtTheBound
skip="^(${bound}${1:+|$1})\$"
export HK_REQUIRE_BINARIES=1
log=$(mktemp)
trap 'rm -f "$log"' EXIT
go test "${flags[@]}" -run "^${bound}\$" ./test/integration/ >"$log" 2>&1 &
pid=$!
rest=0
go test "${flags[@]}" -skip "$skip" ./test/integration/... || rest=$?
b=0
wait "$pid" || b=$?
cat "$log"
echo "integration-test: $bound exit $b, the other tests exit $rest"
[[ $rest -eq 0 && $b -eq 0 ]]
