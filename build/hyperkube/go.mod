// This directory is not built as part of the hk module. common/ plus one release directory make
// the cmd/hyperkube that `hk build` copies into a materialized Kubernetes tree; this go.mod keeps the
// hk module (and `go build ./...`) from trying to compile it without that tree.
module hyperkube-overlay

go 1.26
