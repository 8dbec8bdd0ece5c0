#!/usr/bin/env bash
# Builds VERSION (default v1.37.2) a second time from a fresh clone in another directory with an
# empty Go build cache, and compares its SHA256SUMS with this checkout's out/<VERSION>/.
# Takes as long as a cold build (about 6 minutes on 2 cores).
set -euo pipefail
version=${1:-v1.37.2}
root=$(cd "$(dirname "$0")/.." && pwd)
[[ -f $root/out/$version/SHA256SUMS ]] || { echo "check-reproducible: build $version first (make hyperkube)" >&2; exit 1; }
work=$(mktemp -d /tmp/hk-repro-XXXXXX)
trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT
git clone -q "$root" "$work/src"
(cd "$work/src" && CGO_ENABLED=0 go build -o "$work/hk" ./cmd/hk)
echo "check-reproducible: cold build of $version in $work/src (GOCACHE empty)" >&2
(cd "$work/src" && GOCACHE="$work/gocache" "$work/hk" build --version "$version" >&2)
a=$(cat "$root/out/$version/SHA256SUMS"); b=$(cat "$work/src/out/$version/SHA256SUMS")
echo "this checkout: $a"
echo "fresh clone:   $b"
[[ $a == "$b" ]] && echo "reproducible: identical" || { echo "NOT reproducible" >&2; exit 1; }
