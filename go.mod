module github.com/hardened-hyperkube/hk

go 1.26.0

require (
	github.com/google/go-cmp v0.7.0
	golang.org/x/mod v0.43.0
	golang.org/x/net v0.62.0
)
