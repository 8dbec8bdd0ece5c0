#!/usr/bin/env bash
# The Bazel job (make bazel-test): BUILD files in sync with the Go code, everything builds, the
# unit tests pass, and the Bazel-built hk answers a smoke command like the Go-built one.
# Run after `make bazel-setup` and `make hk`. Downloads are disabled in .bazelrc.
set -euo pipefail
cd "$(dirname "$0")/.."
trap 'bazel shutdown 2>/dev/null' EXIT # no Bazel server outlives the run
# Action outputs are kept across checkouts, as the Go build cache is: each clone has its own
# output base, which would otherwise compile every action again.
cache="--disk_cache=${HK_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/hk}/bazel-disk"
if ! bazel run "$cache" //:gazelle -- -mode=diff; then
  echo "bazel-check: BUILD files are stale; run: bazel run //:gazelle" >&2
  exit 1
fi
bazel build "$cache" //...
bazel test "$cache" //...
smoke() { "$1" lab profiles && "$1" build --version v0.0.0 2>&1 | tail -1 || true; }
if ! diff <(smoke bazel-bin/cmd/hk/hk_/hk) <(smoke out/bin/hk); then
  echo "bazel-check: the Bazel-built hk answers differently from out/bin/hk" >&2
  exit 1
fi
echo "bazel-check: BUILD files in sync, //... built and tested, Bazel-built hk matches out/bin/hk"
