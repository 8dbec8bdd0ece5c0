// Package publish groups what a release engineer ships and a consumer verifies: the release
// directory and its verification (release), the product image (image), OCI images without a
// daemon (ociimage), SBOMs (sbom), provenance (provenance), signatures (signing), licences
// (licenses), and following upstream's patch releases onto a branch to review (follow). Its
// packages import compile, source and plumbing.
package publish
