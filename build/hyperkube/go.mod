// This directory is not built as part of the hk module. Each subdirectory is a cmd/hyperkube
// overlay that `hk build` copies into a materialized Kubernetes tree; this go.mod only keeps the
// hk module (and `go build ./...`) from trying to compile it without that tree.
module hyperkube-overlay

go 1.26
