// Package provenance writes the release's in-toto Statement with a SLSA v1 provenance
// predicate (the in-toto attestation Go bindings) and reads it back for verification.
package provenance

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	slsa "github.com/in-toto/attestation/go/predicates/provenance/v1"
	intoto "github.com/in-toto/attestation/go/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"
)

// BuildType names what an hk release build means; its parameters are those below.
const BuildType = "https://github.com/hardened-hyperkube/hk/release/v1"

// BuilderID names the builder: hk at a revision of this repository.
const BuilderID = "https://github.com/hardened-hyperkube/hk/cmd/hk"

// Subject is one artifact the statement speaks for.
type Subject struct {
	Name   string // path in the release, or repository:tag@arch for an image
	SHA256 string // hex
}

// Dependency is one resolved input: a module (h1: hash), a patch, or the toolchain.
type Dependency struct {
	Name   string
	URI    string
	SHA256 string // hex, for files
	H1     string // h1: hash, for modules
}

// Statement is what the release knows about its own build.
type Statement struct {
	Subjects      []Subject
	Version       string   // Kubernetes release
	Patches       string   // the selection: all, none or numbers
	Architectures []string // GOARCH values
	GoVersion     string
	Env           []string
	Flags         []string
	Revision      string // our commit, the builder's version
	Dependencies  []Dependency
}

// Marshal returns the in-toto Statement as JSON.
func Marshal(s Statement) ([]byte, error) {
	ext, err := structpb.NewStruct(map[string]any{
		"version": s.Version, "patches": s.Patches, "architectures": toAny(s.Architectures),
	})
	if err != nil {
		return nil, err
	}
	internal, err := structpb.NewStruct(map[string]any{
		"goVersion": s.GoVersion, "env": toAny(s.Env), "goBuildFlags": toAny(s.Flags),
	})
	if err != nil {
		return nil, err
	}
	var deps []*intoto.ResourceDescriptor
	for _, d := range s.Dependencies {
		rd := &intoto.ResourceDescriptor{Name: d.Name, Uri: d.URI, Digest: map[string]string{}}
		if d.SHA256 != "" {
			rd.Digest["sha256"] = d.SHA256
		}
		if d.H1 != "" {
			hx, err := dirHash(d.H1)
			if err != nil {
				return nil, fmt.Errorf("dependency %s: %w", d.Name, err)
			}
			rd.Digest["dirHash"] = hx
		}
		deps = append(deps, rd)
	}
	pred := &slsa.Provenance{
		BuildDefinition: &slsa.BuildDefinition{
			BuildType: BuildType, ExternalParameters: ext, InternalParameters: internal, ResolvedDependencies: deps,
		},
		RunDetails: &slsa.RunDetails{Builder: &slsa.Builder{Id: BuilderID, Version: map[string]string{"hk": s.Revision}}},
	}
	predJSON, err := protojson.Marshal(pred)
	if err != nil {
		return nil, err
	}
	predStruct := &structpb.Struct{}
	if err := protojson.Unmarshal(predJSON, predStruct); err != nil {
		return nil, err
	}
	st := &intoto.Statement{Type: intoto.StatementTypeUri, PredicateType: "https://slsa.dev/provenance/v1", Predicate: predStruct}
	subjects := append([]Subject{}, s.Subjects...)
	sort.Slice(subjects, func(i, j int) bool { return subjects[i].Name < subjects[j].Name })
	for _, sub := range subjects {
		st.Subject = append(st.Subject, &intoto.ResourceDescriptor{Name: sub.Name, Digest: map[string]string{"sha256": sub.SHA256}})
	}
	if err := st.Validate(); err != nil {
		return nil, fmt.Errorf("in-toto statement: %w", err)
	}
	// protojson output is deliberately unstable in whitespace; re-indent through structpb
	// so two builds of the same release write the same bytes.
	raw, err := protojson.Marshal(st)
	if err != nil {
		return nil, err
	}
	return canonical(raw)
}

// Subjects parses a statement and returns its subjects by name.
func Subjects(data []byte) (map[string]string, error) {
	var st intoto.Statement
	if err := protojson.Unmarshal(data, &st); err != nil {
		return nil, fmt.Errorf("not an in-toto statement: %w", err)
	}
	if err := st.Validate(); err != nil {
		return nil, fmt.Errorf("in-toto statement: %w", err)
	}
	if st.GetPredicateType() != "https://slsa.dev/provenance/v1" {
		return nil, fmt.Errorf("predicate type %q is not SLSA provenance v1", st.GetPredicateType())
	}
	out := map[string]string{}
	for _, s := range st.GetSubject() {
		out[s.GetName()] = s.GetDigest()["sha256"]
	}
	return out, nil
}

func dirHash(h1 string) (string, error) {
	if !strings.HasPrefix(h1, "h1:") {
		return "", fmt.Errorf("%q is not an h1: hash", h1)
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(h1, "h1:"))
	if err != nil {
		return "", err
	}
	return hex.EncodeToString(raw), nil
}

func toAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

func canonical(raw []byte) ([]byte, error) {
	v := &structpb.Struct{}
	if err := protojson.Unmarshal(raw, v); err != nil {
		return nil, err
	}
	m, err := json.MarshalIndent(v.AsMap(), "", "  ") // a map: sorted keys, stable bytes
	if err != nil {
		return nil, err
	}
	return append(m, '\n'), nil
}
