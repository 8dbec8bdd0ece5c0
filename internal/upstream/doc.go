// Package upstream groups what measures our tree by upstream's own standards and hands the series
// to upstream: upstream's tests of the touched packages and its integration tests (upstreamtest),
// its presubmit checks (upstreamcheck), its conformance suite on kind clusters (conformance) and
// the series as format-patch files or a fork branch (export). Its packages import kind, compile,
// source and plumbing.
package upstream
