// Package proof groups the namespace lab that proves the fix on real etcd and the real
// apiserver: profiles, boots and results (lab), namespaces with IPv6 off and a curated /etc
// (sandbox), nameservers that drop queries (dnshole), throwaway certificates (pki) and the
// name-resolution probe run inside sandboxes and images (resolveprobe). Its packages import only
// plumbing.
package proof
