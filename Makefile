# The README's two commands: `make hyperkube` (the main job) and `make test` (all tests).
# Every target is one call of hk or go test; the logic lives in Go.
VERSION ?= v1.37.2
# The lines upstream still patches are proven by make test; the end-of-life lines only we carry
# by make test-eol, which CI runs after it (make test's cold budget, docs/testing.md).
TEST_BACKPORTS ?= v1.36.3 v1.35.4
EOL_BACKPORTS ?= v1.24.17 v1.21.14
BACKPORTS ?= $(TEST_BACKPORTS) $(EOL_BACKPORTS)
HK      := out/bin/hk
export PATH := $(PATH):/usr/local/go/bin
INTEGRATION_FLAGS ?= -count=1 -timeout 40m -v

.PHONY: follow sbom-check vuln release-fips fips-proof release-vuln-test test-eol conformance conformance-hazard conformance-rerun conformance-smoke conformance-suite kind-versions upstream-integration backport-hyperkubes release signing-key verify-release kind-node-image kind-test kind-smoke bazel-setup bazel-test reproducible backports backports-built image deps hk hyperkube unpatched repair-retry etcd lab-binaries test unit-test upstream-test upstream-check integration-test matrix soak

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

# out/$(VERSION)-no-loopback-fix/hyperkube: the retry and shutdown patches without the loopback fix
# (every patch but those that touch the loopback client's host choice).
repair-retry: hk
	$(HK) build --version $(VERSION) --patches no-loopback-fix

etcd: hk
	$(HK) etcd --version $(VERSION)

# What the lab boots: the hyperkube we ship and, for the controls, kube-apiserver alone (upstream's
# ./cmd/kube-apiserver: the lab boots nothing else, so nothing more is compiled or linked).
LAB_CONTROLS := out/$(VERSION)-unpatched-kube-apiserver/kube-apiserver out/$(VERSION)-no-loopback-fix-kube-apiserver/kube-apiserver
lab-binaries: hyperkube etcd
	$(HK) build --version $(VERSION) --patches none --target kube-apiserver
	$(HK) build --version $(VERSION) --patches no-loopback-fix --target kube-apiserver

# hyperkube:$(VERSION) on an offline Alpine-like base (no registry here); with a registry:
# $(HK) image build --version $(VERSION) --base alpine:3.15@sha256:<digest>
image: hyperkube
	$(HK) image build --version $(VERSION) --offline-base no-nsswitch

# out/release/$(VERSION): hyperkube for each of ARCHES, images (OCI layout + docker archives),
# SPDX SBOMs, SLSA provenance, licences, sigstore bundles, manifest.json (docs/release.md).
# SIGNING_KEY is a PEM ECDSA P-256 key; the default is a development key made on first use.
ARCHES ?= amd64,arm64
SIGNING_KEY ?= out/keys/release.key
release: signing-key
	$(HK) release --version $(VERSION) --arch $(ARCHES) --key $(SIGNING_KEY)

# The FIPS 140-3 variant: every architecture built with Go's certified FIPS module (GOFIPS140),
# out/release/$(VERSION)-fips, images tagged <tag>-fips (docs/release.md).
release-fips: signing-key
	$(HK) release --fips --version $(VERSION) --arch $(ARCHES) --key $(SIGNING_KEY)

# The FIPS hyperkube (a full compile: the FIPS module changes every package that uses crypto)
# booted by the lab under GODEBUG=fips140=only and the field hazard (test/integration/fips_test.go).
fips-proof: hk etcd
	$(HK) build --fips --version $(VERSION)
	HK_REQUIRE_BINARIES=1 go test $(INTEGRATION_FLAGS) -run '^TestFIPSOnlyBoot$$' ./test/integration/

signing-key: hk
	$(HK) keygen --if-missing $(SIGNING_KEY)

# Each release line to upstream's newest patch release: pins, carried series, proofs, signed
# release, committed on the branch follow/<release> (docs/follow.md). FOLLOW_FLAGS=--check asks only.
follow: hk
	$(HK) follow $(FOLLOW_FLAGS)

# The release test with govulncheck's source scan of the whole hyperkube (≈ 4 CPU min and 12 GB
# the first time, remembered by tree and database after): the vulnerability report and the OpenVEX
# in a signed release, verified, tampering refused. CI runs it after make test (docs/testing.md).
release-vuln-test: hyperkube
	HK_RELEASE_VULN_SCAN=1 go test -count=1 -timeout 40m -v -run '^TestReleaseVerifiesAndRefusesTampering$$' ./test/integration/

# Known vulnerabilities of a release's hyperkube from source, offline (docs/release.md).
vuln: hk
	$(HK) vuln scan --version $(VERSION)

verify-release: hk
	$(HK) verify out/release/$(VERSION) --key $(SIGNING_KEY).pub

# make test: every stage starts at once and `hk stage` orders them (docs/testing.md). The
# build lane compiles one thing at a time at the lowest CPU priority, each after the one before;
# each proof starts as soon as what it boots is built, so the compiler takes the CPU the proofs
# leave (their time is mostly DNS timeouts and upstream tests' waits). The lab's timed boots run
# at normal priority and one group at a time (the lab's proofs, the kind smoke, then each
# backport's), the tests that time nothing of ours (hk's unit tests, upstream's) at nice 10.
# Each stage's output is printed whole when it ends, the table of stages (start, seconds, CPU
# seconds, Go build cache growth) at the end, on failure too.
# upstream-check (upstream's lint and -race tests of the touched packages, 12 min cold) is its own
# target, not a stage: make test runs upstream's tests of every release's series without -race.
BUILD_LANE := lab-binaries conformance-suite $(addprefix backport-binaries-,$(TEST_BACKPORTS)) bazel-test
PROOFS     := unit-test lab-proofs kind-smoke conformance-smoke $(addprefix backport-proof-,$(TEST_BACKPORTS)) $(addprefix upstream-test-,$(VERSION) $(TEST_BACKPORTS))
TEST_STAGES := $(BUILD_LANE) $(PROOFS)
BUILD_NICE ?= 19
TEST_NICE ?= 10
comma := ,
space := $(eval) $(eval)
# $(call before,X,LIST): the word of LIST just before X (empty for the first).
before = $(if $(filter $(1),$(word 2,$(2))),$(word 1,$(2)),$(if $(word 3,$(2)),$(call before,$(1),$(wordlist 2,$(words $(2)),$(2)))))
# A stage's own make runs its target alone, one recipe at a time (never two builds at once).
STAGE_MAKE := env MAKEFLAGS= $(MAKE) --no-print-directory
.PHONY: lab-proofs $(addprefix stage-,$(TEST_STAGES))

test: hk
	scripts/install-deps.sh bazel kind
	$(HK) stage --reset --plan $(subst $(space),$(comma),$(strip $(TEST_STAGES)))
	@rc=0; $(MAKE) --no-print-directory -k -j$(words $(TEST_STAGES)) $(addprefix stage-,$(TEST_STAGES)) || rc=$$?; \
	$(HK) stage --table || rc=1; exit $$rc

$(addprefix stage-,$(BUILD_LANE)): stage-%:
	$(HK) stage --nice $(BUILD_NICE) $(if $(call before,$*,$(BUILD_LANE)),--after $(call before,$*,$(BUILD_LANE))) $* -- $(STAGE_MAKE) $*
stage-unit-test:
	$(HK) stage --nice $(TEST_NICE) unit-test -- $(STAGE_MAKE) unit-test
$(addprefix stage-upstream-test-,$(TEST_BACKPORTS)): stage-upstream-test-%:
	$(HK) stage --nice $(TEST_NICE) --needs backport-binaries-$* upstream-test-$* -- $(STAGE_MAKE) upstream-test-$*
stage-upstream-test-$(VERSION):
	$(HK) stage --nice $(TEST_NICE) --needs lab-binaries upstream-test-$(VERSION) -- $(STAGE_MAKE) upstream-test-$(VERSION)
# The lab's timed boots, one group at a time: booted together, a dozen apiservers' start-ups share
# two cores (measured: a patched backport ready in 9.0 s beside the lab's proofs, and in 6.7 s
# with the four backports' proofs at once, against its 10 s limit; 1.6-3.8 s one at a time). The
# kind smoke also keeps its private Docker daemon and the kubelet's host sysctls out of the lab's
# way.
LAB_LANE := lab-proofs kind-smoke conformance-smoke $(addprefix backport-proof-,$(TEST_BACKPORTS))
stage-lab-proofs:
	$(HK) stage --needs lab-binaries lab-proofs -- $(STAGE_MAKE) lab-proofs
stage-kind-smoke:
	$(HK) stage --needs lab-binaries --after lab-proofs kind-smoke -- $(STAGE_MAKE) kind-smoke
stage-conformance-smoke:
	$(HK) stage --needs lab-binaries,conformance-suite --after kind-smoke conformance-smoke -- $(STAGE_MAKE) conformance-smoke
$(addprefix stage-backport-proof-,$(TEST_BACKPORTS)): stage-backport-proof-%:
	$(HK) stage --needs backport-binaries-$* --after $(call before,backport-proof-$*,$(LAB_LANE)) backport-proof-$* -- $(STAGE_MAKE) backport-proof-$*

unit-test: deps
	go test -count=1 ./cmd/... ./internal/...

upstream-test: hk
	$(HK) upstream-test --version $(VERSION)

# What upstream's CI runs on the touched packages of the patched tree: gofmt, golangci-lint with
# the tree's hack/golangci.yaml (new findings only), go test -race. Zero findings or it fails.
upstream-check: hk
	$(HK) upstream-check --version $(VERSION)

# Upstream's own test/integration packages that start kube-apiserver through the patched code
# (hk upstream-integration lists them and why), on the unpatched and the patched tree with our
# etcd, each in a network namespace of its own; fails unless both trees give the same results.
# Not in make test (docs/testing.md).
upstream-integration: hk etcd
	$(HK) upstream-integration --version $(VERSION)

# Every lab proof: builds what they boot, then runs them (scripts/integration-test.sh).
integration-test: lab-binaries $(addprefix backport-binaries-,$(BACKPORTS))
	scripts/integration-test.sh TestFIPSOnlyBoot

# The lab's proofs of v1.37.2 and one backport's, without building: make test runs each once its
# binaries are built.
lab-proofs:
	scripts/integration-test.sh 'TestBackports|TestFIPSOnlyBoot'
	$(MAKE) --no-print-directory sbom-check

# Another reader than ours (protobom, in its own module test/sbomreader) reads the hyperkube's SBOM
# and finds what scanners match: Kubernetes' PURL and CPE, staging modules at their versions, the
# series. Needs out/$(VERSION)/hyperkube.
sbom-check: hk
	cd test/sbomreader && HK_REQUIRE_BINARIES=1 go test -count=1 -v ./...
backport-proof-%:
	HK_REQUIRE_BINARIES=1 go test $(INTEGRATION_FLAGS) -run '^TestBackports$$/^$*$$' ./test/integration/

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

# The end-of-life lines (1.24, 1.21): each one's binaries, upstream's tests of its series and its
# lab proof, one line after the other. CI runs it after make test.
test-eol: hk
	for v in $(EOL_BACKPORTS); do $(MAKE) --no-print-directory backport-binaries-$$v upstream-test-$$v backport-proof-$$v || exit 1; done

# One table, every release: series applies, upstream tests, and upstream vs the series booted
# under field-slow, etcd-stall and ipv6-absent, each also sent SIGTERM 20 s after its start
# (seconds to exit after the signal; the series must exit 0 within kubeadm's 30 s). It boots the
# kube-apiserver builds make test also builds; backport-hyperkubes builds each whole hyperkube.
backports: hk
	$(HK) backports --sigterm 20s --versions $(VERSION),$(subst $(space),$(comma),$(strip $(BACKPORTS)))

# Each backport's whole hyperkube (every component linked), what a release of that line ships.
backport-hyperkubes: hk
	for v in $(BACKPORTS); do $(HK) build --version $$v || exit 1; done

# Not in CI (docs/testing.md has the durations).
matrix: lab-binaries
	$(HK) lab matrix --binaries $(subst $(eval) ,$(comma),$(LAB_CONTROLS)),out/$(VERSION)/hyperkube --profiles healthy,field,field-slow,transient,no-localhost --hold 60s

# A kind node image of our build (hk/kind-node:<version with _ for +>), loaded into the host's
# Docker, or into the private daemon where the host's Docker cannot run kind's --privileged nodes.
kind-node-image: hk
	scripts/install-deps.sh kind
	$(HK) kind node-image --version $(VERSION)

# Real kind clusters of the patched and unpatched node images: healthy, field, power cuts
# (docs/kind.md has the scenario table and the time). Not in make test: see docs/testing.md.
kind-test: hk etcd
	scripts/install-deps.sh kind
	HK_KIND_TEST=1 go test -count=1 -timeout 75m -v ./test/kind/

# make test's kind proof: the patched node image, one healthy cluster (kubeadm, kubelet, static
# pods, kube-proxy, a Service answering), torn down with nothing left behind.
kind-smoke: hk etcd
	scripts/install-deps.sh kind
	HK_KIND_TEST=smoke go test -count=1 -timeout 30m -v ./test/kind/

# The healthy multi-node scenario on the other releases whose hyperkube carries kubeadm (each
# builds that release's whole hyperkube and node image). Not in make test: see docs/kind.md.
KIND_VERSIONS ?= v1.36.3 v1.35.4
kind-versions: hk etcd
	scripts/install-deps.sh kind
	for v in $(KIND_VERSIONS); do HK_KIND_TEST=smoke HK_KIND_VERSION=$$v go test -count=1 -timeout 45m -v ./test/kind/ || exit 1; done

# Upstream's conformance suite (e2e.test, ginkgo) and its test images, built offline from the
# pinned tree into out/conformance/$(VERSION)/ (docs/conformance.md).
conformance-suite: hk
	scripts/install-deps.sh kind
	$(HK) conformance build --version $(VERSION)

# The whole [Conformance] suite, parallel part then serial part, on kind clusters (1 control
# plane, 2 workers) of the patched build and of the unpatched control: reports under
# out/conformance/$(VERSION)/results/. Not in make test (docs/conformance.md has the time).
conformance: hk etcd
	scripts/install-deps.sh kind
	HK_CONFORMANCE=full HK_KIND_VERSION=$(VERSION) go test -count=1 -timeout 10h -v -run '^TestConformance$$' ./test/kind/

# The whole suite on a patched cluster back from a power cut under the field hazard.
conformance-hazard: hk etcd
	scripts/install-deps.sh kind
	HK_CONFORMANCE=hazard HK_KIND_VERSION=$(VERSION) go test -count=1 -timeout 6h -v -run '^TestConformance$$' ./test/kind/

# For each build, the tests its last make conformance did not pass, on a new cluster.
conformance-rerun: hk etcd
	scripts/install-deps.sh kind
	HK_CONFORMANCE=rerun HK_KIND_VERSION=$(VERSION) go test -count=1 -timeout 3h -v -run '^TestConformance$$' ./test/kind/

# make test's sample of the suite (internal/upstream/conformance.Smoke) on the patched cluster.
conformance-smoke: hk etcd
	scripts/install-deps.sh kind
	HK_CONFORMANCE=smoke HK_KIND_VERSION=$(VERSION) go test -count=1 -timeout 60m -v -run '^TestConformance$$' ./test/kind/

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

