// Package source groups the journey from a release number to a patched tree: pins and their
// resolution (versions), the Go module cache (modcache), a module proxy on the file system for
// releases upstream has not made (modproxy), the pristine upstream repository (tree), selecting
// and applying the series (series), carrying it onto the next patch release (carry), the OpenAPI
// definitions old trees lack (openapigen), and the pinned vulnerability database and scanner
// that read a tree or a binary (vuln). Its packages import only plumbing.
package source
