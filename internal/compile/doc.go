// Package compile groups what turns a patched tree into binaries: the hyperkube and single
// components (build), etcd at a release's pinned version (etcdbuild) and the offline Bazel
// toolchain for hk itself (bazelsetup). Its packages import source and plumbing.
package compile
