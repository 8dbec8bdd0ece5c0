# The README's two commands: `make hyperkube` (the main job) and `make test` (all tests).
# Every target is one call of hk or go test; the logic lives in Go.
VERSION ?= v1.37.2
BACKPORTS ?= v1.36.3 v1.35.4 v1.24.17 v1.21.14
HK      := out/bin/hk
export PATH := $(PATH):/usr/local/go/bin
INTEGRATION_FLAGS ?= -count=1 -timeout 40m -parallel 8 -v

.PHONY: release signing-key verify-release kind-node-image kind-test kind-smoke bazel-setup bazel-test reproducible backports backports-built image deps hk hyperkube unpatched repair-retry etcd lab-binaries test unit-test upstream-test upstream-check integration-test matrix soak

deps:
	scripts/install-deps.sh

# Static (no cgo): it also runs inside images, where it probes name resolution with Go's resolver.
hk: deps
	CGO_ENABLED=0 go build -o $(HK) ./cmd/hk

# out/$(VERSION)/hyperkube: the whole series.
hyperkube: hk
	$(HK) build --version $(VERSION)

# out/$(VERSION)-unpatched/hyperkube: upstream as is, the control.
unpatched: hk
	$(HK) build --version $(VERSION) --patches none

# out/$(VERSION)-p0002-0003-0004/hyperkube: the retry and shutdown patches without the loopback fix.
repair-retry: hk
	$(HK) build --version $(VERSION) --patches 0002,0003,0004

etcd: hk
	$(HK) etcd --version $(VERSION)

# What the lab boots: the hyperkube we ship and, for the controls, kube-apiserver alone (upstream's
# ./cmd/kube-apiserver: the lab boots nothing else, so nothing more is compiled or linked).
LAB_CONTROLS := out/$(VERSION)-unpatched-kube-apiserver/kube-apiserver out/$(VERSION)-p0002-0003-0004-kube-apiserver/kube-apiserver
lab-binaries: hyperkube etcd
	$(HK) build --version $(VERSION) --patches none --target kube-apiserver
	$(HK) build --version $(VERSION) --patches 0002,0003,0004 --target kube-apiserver

# hyperkube:$(VERSION) on an offline Alpine-like base (no registry here); with a registry:
# $(HK) image build --version $(VERSION) --base alpine:3.15@sha256:<digest>
image: hyperkube
	$(HK) image build --version $(VERSION) --offline-base no-nsswitch

# out/release/$(VERSION): hyperkube for each of ARCHES, images (OCI layout + docker archives),
# SPDX SBOMs, SLSA provenance, licences, sigstore bundles, manifest.json (README "Release").
# SIGNING_KEY is a PEM ECDSA P-256 key; the default is a development key made on first use.
ARCHES ?= amd64,arm64
SIGNING_KEY ?= out/keys/release.key
release: signing-key
	$(HK) release --version $(VERSION) --arch $(ARCHES) --key $(SIGNING_KEY)

signing-key: hk
	$(HK) keygen --if-missing $(SIGNING_KEY)

verify-release: hk
	$(HK) verify out/release/$(VERSION) --key $(SIGNING_KEY).pub

# upstream-check runs upstream's tests of the touched packages with -race, so upstream-test (the
# same tests without it) is not run again here.
# Each stage is timed (hk stage); the table of stages, seconds and Go build cache growth ends the
# log, on failure too.
# Every build comes before the upstream checks, whose lint and tests then find their shared
# dependencies in the Go build cache; the checks of all five releases run at once (-j5, output
# kept per release): most of their time is k8s.io/apiserver/pkg/server's tests waiting (one
# graceful-shutdown test alone waits 60 s), not computing.
test: hk
	$(HK) stage --reset
	$(HK) stage unit-test -- $(MAKE) --no-print-directory unit-test
	$(HK) stage bazel-test -- $(MAKE) --no-print-directory bazel-test
	$(HK) stage lab-binaries -- $(MAKE) --no-print-directory lab-binaries
	$(foreach v,$(BACKPORTS),$(HK) stage backport-binaries-$(v) -- $(MAKE) --no-print-directory backport-binaries-$(v) && ) true
	$(HK) stage upstream-checks -- $(MAKE) --no-print-directory -j5 -O upstream-check $(addprefix upstream-test-,$(BACKPORTS))
	$(HK) stage integration-test -- $(MAKE) --no-print-directory integration-test
	$(HK) stage kind-smoke -- $(MAKE) --no-print-directory kind-smoke
	$(HK) stage --table

unit-test: deps
	go test -count=1 ./cmd/... ./internal/...

upstream-test: hk
	$(HK) upstream-test --version $(VERSION)

# What upstream's CI runs on the touched packages of the patched tree: gofmt, golangci-lint with
# the tree's hack/golangci.yaml (new findings only), go test -race. Zero findings or it fails.
upstream-check: hk
	$(HK) upstream-check --version $(VERSION)

# Every binary a test boots must exist (HK_REQUIRE_BINARIES=1): a missing build fails, never skips.
# The 5-minute-bound test runs in a go test of its own, started first: among parallel tests go test
# hands out slots in no fixed order, and measured it got one 8 minutes in, ending the run 13 min
# after its start instead of the others' 5. Its output follows the others'.
BOUND_TEST := TestOutageLongerThanTheBoundExitsAtTheBound
integration-test: lab-binaries $(addprefix backport-binaries-,$(BACKPORTS))
	@log=$$(mktemp); trap 'rm -f $$log' EXIT; \
	HK_REQUIRE_BINARIES=1 go test $(INTEGRATION_FLAGS) -run '^$(BOUND_TEST)$$' ./test/integration/ >$$log 2>&1 & bound=$$!; \
	rest=0; HK_REQUIRE_BINARIES=1 go test $(INTEGRATION_FLAGS) -skip '^$(BOUND_TEST)$$' ./test/integration/... || rest=$$?; \
	b=0; wait $$bound || b=$$?; cat $$log; \
	echo "integration-test: $(BOUND_TEST) exit $$b, the other tests exit $$rest"; test $$rest -eq 0 && test $$b -eq 0

# Each backport's proof: patched and unpatched kube-apiserver (what the lab boots), its etcd, and
# upstream's tests of the series (which share those builds' compiled packages). The backport's
# whole hyperkube is built by make backports.
backport-%: hk
	$(MAKE) --no-print-directory backport-binaries-$* upstream-test-$*

backport-binaries-%: hk
	$(HK) build --version $* --target kube-apiserver && $(HK) build --version $* --patches none --target kube-apiserver && $(HK) etcd --version $*

# Upstream's tests of one release's series.
upstream-test-%: hk
	$(HK) upstream-test --version $*

backports-built: $(addprefix backport-,$(BACKPORTS))

# One table, every release: series applies, upstream tests, unpatched vs patched under the profile
# that kills it, DNS queries, and SIGTERM at 20 s during that outage for upstream and the series
# without 0001 (make test asserts the boots through TestBackports).
comma := ,
backports: hk
	$(HK) backports --sigterm 20s --versions $(VERSION),$(subst $(eval) ,$(comma),$(strip $(BACKPORTS)))

# Not in CI (see README for durations).
matrix: lab-binaries
	$(HK) lab matrix --binaries $(subst $(eval) ,$(comma),$(LAB_CONTROLS)),out/$(VERSION)/hyperkube --profiles healthy,field,field-slow,transient,no-localhost --hold 60s

# A kind node image of our build (hk/kind-node:<version with _ for +>), loaded into the host's
# Docker, or into the private daemon where the host's Docker cannot run kind's --privileged nodes.
kind-node-image: hk
	scripts/install-deps.sh kind
	$(HK) kind node-image --version $(VERSION)

# Real kind clusters of the patched and unpatched node images: healthy, field, power cuts (README
# "kind" has the scenario table and the time). Not in make test: see README, "Test budget".
kind-test: hk etcd
	scripts/install-deps.sh kind
	HK_KIND_TEST=1 go test -count=1 -timeout 75m -v ./test/kind/

# make test's kind proof: the patched node image, one healthy cluster (kubeadm, kubelet, static
# pods, kube-proxy, a Service answering), torn down with nothing left behind.
kind-smoke: hk etcd
	scripts/install-deps.sh kind
	HK_KIND_TEST=smoke go test -count=1 -timeout 30m -v ./test/kind/

# A second, cold build from a fresh clone in another directory must give the same sha256.
reproducible: hyperkube
	scripts/check-reproducible.sh $(VERSION)

# Power cuts: patched 50 boots under field and under field-slow; unpatched 20 under field-slow (each
# of those boots lasts until its exit at ~61 s). Unpatched v1.37 survives plain field (30 s lookups).
soak: lab-binaries
	$(HK) lab soak --binary out/$(VERSION)/hyperkube --profile field --boots 50 && $(HK) lab soak --binary out/$(VERSION)/hyperkube --profile field-slow --boots 50 && $(HK) lab soak --binary out/$(VERSION)-unpatched-kube-apiserver/kube-apiserver --profile field-slow --boots 20

# Optional Bazel build (never needed by the targets above): Debian's Bazel 4.2.3, rules_go
# v0.33.0 and gazelle v0.26.0 prepared offline under out/bazel.
bazel-setup: hk
	scripts/install-deps.sh bazel
	$(HK) bazel-setup

# BUILD files in sync (gazelle -mode=diff), bazel build and test //..., smoke-compare the binaries.
bazel-test: bazel-setup
	scripts/bazel-check.sh

