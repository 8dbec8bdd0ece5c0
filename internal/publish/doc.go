// Package publish groups what a release engineer ships and a consumer verifies: the release
// directory and its verification (release), the product image (image), OCI images without a
// daemon (ociimage), SBOMs (sbom), provenance (provenance), signatures (signing) and licences
// (licenses). Its packages import compile, source and plumbing.
package publish
