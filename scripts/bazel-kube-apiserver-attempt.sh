#!/usr/bin/env bash
# Measured attempt, not in CI: generate BUILD files for a materialized, patched Kubernetes tree
# with gazelle and try `bazel build` of kube-apiserver with the offline toolchain of
# `make bazel-setup`. Prints how far it got; the tree is out/trees/$VERSION/bazel-attempt.
# Usage: scripts/bazel-kube-apiserver-attempt.sh [v1.37.2]   (after make bazel-setup)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
version=${1:-v1.37.2}
minor=${version%.*}
hk=out/bin/hk
tree=out/trees/$version/bazel-attempt
export GOROOT=$root/out/bazel/goroot PATH=$root/out/bazel/goroot/bin:$PATH GOWORK=off

pristine=$($hk materialize --version "$version" 2>/dev/null | tail -1)
git -C "$pristine" worktree remove --force "$root/$tree" 2>/dev/null || rm -rf "$tree"
git -C "$pristine" worktree prune
git -C "$pristine" worktree add --quiet --detach "$root/$tree" "upstream-$version"
for p in patches/"$minor"/*.patch; do git -C "$tree" am --quiet "$root/$p"; done

bazel build @bazel_gazelle//cmd/gazelle >/dev/null 2>&1
gazelle=$(bazel info execution_root 2>/dev/null)/bazel-out/host/bin/external/bazel_gazelle/cmd/gazelle/gazelle_/gazelle

# The root module and each staging module get their import prefix; vendor/ holds no code here.
printf '# gazelle:prefix k8s.io/kubernetes\n# gazelle:proto disable_global\n# gazelle:exclude _output\n# gazelle:exclude vendor\n# gazelle:go_naming_convention import\n# gazelle:go_naming_convention_external go_default_library\n' > "$tree/BUILD.bazel"
for d in "$tree"/staging/src/k8s.io/*/; do
  printf '# gazelle:prefix k8s.io/%s\n' "$(basename "$d")" > "$d/BUILD.bazel"
done
# Our WORKSPACE, with absolute paths to out/bazel and the tree's own dependencies.
sed -e "s|path = \"out/bazel/|path = \"$root/out/bazel/|" \
    -e 's|workspace(name = "com_github_hardened_hyperkube_hk")|workspace(name = "io_k8s_kubernetes")|' \
    -e '/toolchain_dependencies/d' -e '/gazelle:repository go_repository/d' WORKSPACE > "$tree/WORKSPACE"
cp .bazelrc "$tree/"
printf 'def go_dependencies():\n    pass\n' > "$tree/deps.bzl" # filled by update-repos below
cd "$tree"
trap 'bazel shutdown 2>/dev/null' EXIT # no Bazel server outlives the attempt
start=$SECONDS
"$gazelle" update-repos -from_file=go.mod -to_macro=deps.bzl%go_dependencies -build_file_proto_mode=disable_global -repo_root . 2>&1 | grep -v 'file path replacements' || true
# Tried: regenerate every module's BUILD files. It does not help where a module ships its own
# (grpc-gateway v2 loads protobuf's Bazel rules, which cannot be fetched here): gazelle merges into
# them and keeps the load. That is where the attempt stops (see docs/bazel.md).
sed -i 's|^\(    go_repository(\)$|\1\n        build_file_generation = "on",|' deps.bzl
"$gazelle" -repo_root . 2>&1 | tail -5 || true
echo "attempt: gazelle: $(find . -name BUILD.bazel -not -path './.git/*' | wc -l) BUILD files, $(grep -c 'go_repository(' deps.bzl) go_repository rules, $((SECONDS - start)) s"
start=$SECONDS
set +e
bazel build --keep_going //cmd/kube-apiserver > "$root/out/bazel/kube-apiserver-attempt.log" 2>&1
rc=$?
set -e
echo "attempt: bazel build //cmd/kube-apiserver: exit $rc after $((SECONDS - start)) s (log: out/bazel/kube-apiserver-attempt.log)"
grep -E '^ERROR' "$root/out/bazel/kube-apiserver-attempt.log" | sed 's|/root/.cache/bazel/[^ ]*/external/|@|' | sort | uniq -c | sort -rn | head -15 || true
