package doctor

import (
	"bytes"
	"context"
	"debug/buildinfo"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hardened-hyperkube/hk/internal/plumbing/command"
	"github.com/hardened-hyperkube/hk/internal/source/series"
	"github.com/hardened-hyperkube/hk/internal/source/vuln"
)

// Binary is what doctor learns about a kube-apiserver or hyperkube binary.
type Binary struct {
	Path       string            `json:"path"`
	GoVersion  string            `json:"goVersion"` // from the build info, e.g. go1.26.8
	Settings   map[string]string `json:"settings"`  // CGO_ENABLED, -tags, -trimpath, ...
	Kubernetes string            `json:"kubernetes,omitempty"`
	// Series is our version suffix ("hk.<digest>") when the binary carries one; Patches are the
	// patch numbers of the series in this checkout that give that digest, when one does.
	Series  string   `json:"series,omitempty"`
	Patches []string `json:"patches,omitempty"`
	// LoopbackFix says whether the binary has patch 0001 (never a name for the loopback host) and
	// RepairRetry whether it retries the first repair (nil: unknown).
	LoopbackFix *bool `json:"loopbackFix"`
	RepairRetry *bool `json:"repairRetry"`
	// LoopbackByListener says whether the binary picks the loopback address by its listener's
	// real mode (series v2's 0001, v3's 0002): 127.0.0.1 on a dual-stack wildcard even while ::1 exists.
	LoopbackByListener *bool `json:"loopbackByListener"`
	// FIPS says whether the binary was built with Go's FIPS 140-3 module and the mode it starts in.
	FIPS string `json:"fips"`
	// LoopbackCertDays is how long the certificate the apiserver signs for its own loopback client
	// is valid: 365 days before kubernetes#130047 (a year up, the loopback client fails), 1096 after.
	LoopbackCertDays int `json:"loopbackCertDays"`
	// Vulnerabilities are govulncheck's binary-mode findings from the pinned database, when it is
	// at hand (nil: not checked, see Problems).
	Vulnerabilities *vuln.Report `json:"vulnerabilities,omitempty"`
	Problems        []string     `json:"problems,omitempty"`
}

var (
	hkSuffixRE = regexp.MustCompile(`v1\.\d+\.\d+\+hk\.([0-9a-f]{12})`)
	versionRE  = regexp.MustCompile(`v1\.(\d+)\.(\d+)\S*`)
	// retryMarker is logged only by the repair-retry patch.
	retryMarker = []byte("Initial repair failed, will retry")
	// listenerMarker is a function name of series v2's 0001 and v3's 0002; Go keeps function names in
	// stripped binaries (they serve tracebacks).
	listenerMarker = []byte("k8s.io/apiserver/pkg/server.listenerIPv6WildcardMode")
	// longCertMarker is the helper kubernetes#130047 added to sign the loopback certificate for
	// 3 years and a day (our 0009 backports it to 1.24 and 1.21); linked only where it is used.
	longCertMarker = []byte("k8s.io/client-go/util/cert.GenerateSelfSignedCertKeyWithOptions")
)

// fipsOf reads the FIPS 140-3 state from the build settings: the module GOFIPS140 selected and
// whether the default GODEBUG turns FIPS mode on.
func fipsOf(settings map[string]string) string {
	module := settings["GOFIPS140"]
	if module == "" || module == "off" {
		return "not built with Go's FIPS 140-3 module (GOFIPS140 unset)"
	}
	mode := "off unless GODEBUG=fips140=on or only"
	for _, kv := range strings.Split(settings["DefaultGODEBUG"], ",") {
		if v, ok := strings.CutPrefix(kv, "fips140="); ok {
			mode = v + " by default (GODEBUG=fips140=only makes non-approved algorithms fail)"
		}
	}
	return "Go FIPS 140-3 module " + module + ", FIPS mode " + mode
}

// inspectBinary reads the build info and our markers from path; repoRoot (may be "") is a
// checkout whose patches/ identify a series digest.
func inspectBinary(ctx context.Context, path, repoRoot string) *Binary {
	b := &Binary{Path: path, Settings: map[string]string{}}
	info, err := buildinfo.ReadFile(path)
	if err != nil {
		b.Problems = append(b.Problems, fmt.Sprintf("%s: not a Go binary or no build info: %v", path, err))
		return b
	}
	b.GoVersion = info.GoVersion
	for _, s := range info.Settings {
		b.Settings[s.Key] = s.Value
	}
	data, err := os.ReadFile(path)
	if err != nil {
		b.Problems = append(b.Problems, err.Error())
		return b
	}
	b.FIPS = fipsOf(b.Settings)
	b.LoopbackCertDays = 365
	if bytes.Contains(data, longCertMarker) {
		b.LoopbackCertDays = 1096
	}
	retry := bytes.Contains(data, retryMarker)
	b.RepairRetry = &retry
	byListener := bytes.Contains(data, listenerMarker)
	b.LoopbackByListener = &byListener
	if m := hkSuffixRE.FindSubmatch(data); m != nil {
		b.Kubernetes = string(m[0])
		b.Series = "hk." + string(m[1])
		b.Patches = matchSeries(repoRoot, b.Kubernetes, string(m[1]))
		if b.Patches != nil {
			fix := slices.Contains(b.Patches, "0001")
			b.LoopbackFix = &fix
		}
	} else {
		no := false
		b.LoopbackFix = &no // our loopback fix always comes with the +hk suffix
	}
	if b.Kubernetes == "" {
		b.Kubernetes = runVersion(ctx, path)
	}
	if b.Kubernetes == "" {
		b.Problems = append(b.Problems, "Kubernetes version unknown (`--version` did not run); assuming v1.28 or later")
	}
	return b
}

// runVersion asks the binary itself; `--version` prints and exits without touching the network.
func runVersion(ctx context.Context, path string) string {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	args := []string{"--version"}
	if filepath.Base(path) == "hyperkube" {
		args = []string{"kube-apiserver", "--version"}
	}
	out, err := command.New(path, args...).Output(ctx)
	if err != nil {
		return ""
	}
	return versionRE.FindString(out)
}

// matchSeries returns the numbers of the subset of patches/<minor> whose digest is digest. The
// digest hashes only the patches' names and contents, so every subset is hashed in memory from one
// read of the directory.
func matchSeries(repoRoot, version, digest string) []string {
	m := versionRE.FindStringSubmatch(version)
	if repoRoot == "" || m == nil {
		return nil
	}
	full, err := series.Select(repoRoot, "v1."+m[1], series.All)
	if err != nil || len(full.Patches) > maxMatchedPatches {
		return nil
	}
	for mask := 1; mask < 1<<len(full.Patches); mask++ {
		subset := &series.Series{Minor: full.Minor}
		for i, p := range full.Patches {
			if mask&(1<<i) != 0 {
				subset.Patches = append(subset.Patches, p)
			}
		}
		if strings.HasPrefix(subset.Digest(), digest) {
			return subset.Numbers()
		}
	}
	return nil
}

// maxMatchedPatches bounds the 2^n subsets matchSeries tries.
const maxMatchedPatches = 20

// minorOf returns 37 for "v1.37.2", or 0 when unknown.
func minorOf(version string) int {
	m := versionRE.FindStringSubmatch(version)
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// goMinor returns 26 for "go1.26.8", or 0 when unknown.
func goMinor(v string) int {
	rest, ok := strings.CutPrefix(v, "go1.")
	if !ok {
		return 0
	}
	if i := strings.IndexAny(rest, ".rcbeta"); i >= 0 {
		rest = rest[:i]
	}
	n, _ := strconv.Atoi(rest)
	return n
}
