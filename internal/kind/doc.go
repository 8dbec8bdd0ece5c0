// Package kind groups what runs real kind clusters of our build on this machine: a Docker daemon
// of our own (privatedocker), offline node images (kindnode) and the addons they carry
// (kindaddons), clusters through kind's Go API with the field hazard and power cuts
// (kindcluster), and the engine probe (kindprobe). Its packages import compile, source and
// plumbing.
package kind
