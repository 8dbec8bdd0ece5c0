package kindnode

// Files of the node image that are ours, not kind's.

// preloadScript imports the images kubeadm asks for into the node's containerd once per node (the
// marker lives on /var, the node's volume). kind's own node images are committed from a running
// node with the images already in containerd; importing at first boot needs no container during
// the build, so the image is made from files alone.
const preloadScript = `#!/bin/sh
set -eu
marker=/var/lib/hk-preloaded-$(cat /kind/images/hk-images.sha256)
[ -e "$marker" ] && exit 0
ctr --namespace=k8s.io images import --all-platforms --no-unpack /kind/images/hk-images.tar
touch "$marker"
`

const preloadUnit = `[Unit]
Description=Import the node image's Kubernetes images into containerd
After=containerd.service
Requires=containerd.service
Before=kubelet.service

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/kind/bin/hk-preload-images.sh

[Install]
WantedBy=multi-user.target
`

// kubeletAfterPreload makes "kubeadm init", which restarts the kubelet, wait for the images.
const kubeletAfterPreload = `[Unit]
After=hk-preload-images.service
Wants=hk-preload-images.service
`

// bootHookUnit runs /kind/hk/boot-hook.sh, if a test mounted one, before containerd and the
// kubelet start on every boot: how the field scenario makes each boot of a node face the hazard
// (IPv6 off, blackholed nameservers) that a power cut brings back in the field.
const bootHookUnit = `[Unit]
Description=Site boot hook (/kind/hk/boot-hook.sh), before containerd and the kubelet
ConditionPathExists=/kind/hk/boot-hook.sh
After=undo-mount-hacks.service
Before=containerd.service kubelet.service

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/sh /kind/hk/boot-hook.sh

[Install]
WantedBy=multi-user.target
`
