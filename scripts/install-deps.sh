#!/usr/bin/env bash
# Installs the system programs the build and the lab call, when they are missing: git (the tree
# and git am), make (when run by hand before it exists), iproute2 (ip, inside the lab sandbox),
# gcc (the race detector of make upstream-check needs cgo). Go itself is expected at
# /usr/local/go or on PATH. As root it also makes sure apt's package lists are there, since the
# offline image bases are downloaded with `apt-get download`. Safe to run repeatedly; it changes
# nothing when all is present. Extras, any of: `kind` also installs debootstrap (make kind-test);
# `bazel` also installs Debian's Bazel and the rule repositories it ships (make bazel-setup).
# make test asks for both at its start, so its stages, running at once, never run apt together.
set -euo pipefail
if [[ $(id -u) -eq 0 ]] && command -v apt-cache >/dev/null 2>&1 && ! apt-cache show busybox-static >/dev/null 2>&1; then
  echo "install-deps: apt package lists missing; apt-get update" >&2
  apt-get update -qq
fi
need=()
extras=" $* "
want() { [[ $extras == *" $1 "* ]]; }
command -v git >/dev/null 2>&1 || need+=(git)
command -v make >/dev/null 2>&1 || need+=(make)
command -v ip >/dev/null 2>&1 || need+=(iproute2)
# cgo, for go test -race in make upstream-check
command -v gcc >/dev/null 2>&1 || need+=(gcc libc6-dev)
if want bazel; then
  for pkg in bazel-bootstrap bazel-skylib bazel-platforms bazel-rules-cc bazel-rules-java bazel-rules-proto; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || need+=("$pkg")
  done
fi
# kind node images (make kind-test): debootstrap for the Debian userland, nsenter for the private
# Docker daemon's network namespace. Docker itself is the machine's.
if want kind; then
  command -v debootstrap >/dev/null 2>&1 || need+=(debootstrap)
  command -v nsenter >/dev/null 2>&1 || need+=(util-linux)
  # busybox for the conformance images, built from its release tarball
  command -v bzip2 >/dev/null 2>&1 || need+=(bzip2)
fi
if ((${#need[@]} == 0)); then
  exit 0
fi
if [[ $(id -u) -ne 0 ]]; then
  echo "install-deps: missing ${need[*]}; run as root or install them (Debian: apt-get install ${need[*]})" >&2
  exit 1
fi
echo "install-deps: installing ${need[*]}" >&2
apt-get update -qq
# Another apt (a user's, or unattended-upgrades) may hold dpkg's lock: wait for it, not fail.
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=300 "${need[@]}"
