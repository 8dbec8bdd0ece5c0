module github.com/hardened-hyperkube/hk

go 1.26.0

require golang.org/x/mod v0.43.0

require golang.org/x/net v0.62.0
