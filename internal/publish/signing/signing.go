// Package signing signs release artifacts into sigstore bundles (v0.3) with a key of our own and
// verifies them with sigstore-go. Keyless signing needs Fulcio and Rekor on the internet, so a
// bundle carries a public-key hint instead of a certificate and no transparency-log entry.
package signing

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	"github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/sign"
	"github.com/sigstore/sigstore-go/pkg/verify"
	"github.com/sigstore/sigstore/pkg/signature"
	"google.golang.org/protobuf/encoding/protojson"
)

// KeyEnv holds a PEM private key for CI systems that pass secrets in the environment.
const KeyEnv = "HK_SIGNING_KEY"

// InTotoPayloadType is the DSSE payload type of an in-toto statement.
const InTotoPayloadType = "application/vnd.in-toto+json"

// Signer signs with one ECDSA P-256 key; it satisfies sigstore-go's sign.Keypair.
type Signer struct {
	key  *ecdsa.PrivateKey
	hint []byte
}

var _ sign.Keypair = (*Signer)(nil)

// GenerateKey writes a new ECDSA P-256 key pair: PATH (PKCS#8 PEM, mode 0600) and PATH.pub.
// An existing PATH is an error: a signing key is never overwritten.
func GenerateKey(path string) error {
	if _, err := os.Stat(path); err == nil {
		return fmt.Errorf("%s exists: a signing key is never overwritten", path)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	if err := writeNew(path+".pub", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}), 0o644); err != nil {
		return err
	}
	return writeNew(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600)
}

func writeNew(path string, data []byte, mode os.FileMode) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, mode); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// LoadSigner reads a PEM private key (PKCS#8 or SEC 1 "EC PRIVATE KEY", P-256).
func LoadSigner(pemData []byte) (*Signer, error) {
	block, _ := pem.Decode(pemData)
	if block == nil {
		return nil, errors.New("signing key: no PEM block")
	}
	var key any
	var err error
	switch block.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("signing key: PEM block %q is not a private key", block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	ec, ok := key.(*ecdsa.PrivateKey)
	if !ok || ec.Curve != elliptic.P256() {
		return nil, errors.New("signing key: want an ECDSA P-256 key")
	}
	hint, err := Fingerprint(&ec.PublicKey)
	if err != nil {
		return nil, err
	}
	return &Signer{key: ec, hint: []byte(hint)}, nil
}

// Fingerprint is the sigstore key hint: base64 of the SHA-256 of the DER public key.
func Fingerprint(pub crypto.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(der)
	return base64.StdEncoding.EncodeToString(sum[:]), nil
}

func (s *Signer) GetHashAlgorithm() protocommon.HashAlgorithm {
	return protocommon.HashAlgorithm_SHA2_256
}
func (s *Signer) GetSigningAlgorithm() protocommon.PublicKeyDetails {
	return protocommon.PublicKeyDetails_PKIX_ECDSA_P256_SHA_256
}
func (s *Signer) GetHint() []byte                { return s.hint }
func (s *Signer) GetKeyAlgorithm() string        { return "ECDSA" }
func (s *Signer) GetPublicKey() crypto.PublicKey { return &s.key.PublicKey }

// GetPublicKeyPem is the public key as a consumer stores it to verify with.
func (s *Signer) GetPublicKeyPem() (string, error) {
	der, err := x509.MarshalPKIXPublicKey(&s.key.PublicKey)
	if err != nil {
		return "", err
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})), nil
}

// SignData signs the SHA-256 of data and returns the signature and that digest.
func (s *Signer) SignData(_ context.Context, data []byte) ([]byte, []byte, error) {
	digest := sha256.Sum256(data)
	sig, err := s.key.Sign(rand.Reader, digest[:], crypto.SHA256)
	return sig, digest[:], err
}

// SignBlob returns the bundle JSON of a message signature over data.
func (s *Signer) SignBlob(data []byte) ([]byte, error) {
	return s.bundle(&sign.PlainData{Data: data})
}

// SignStatement returns the bundle JSON of a DSSE envelope around an in-toto statement.
func (s *Signer) SignStatement(statement []byte) ([]byte, error) {
	return s.bundle(&sign.DSSEData{Data: statement, PayloadType: InTotoPayloadType})
}

func (s *Signer) bundle(content sign.Content) ([]byte, error) {
	b, err := sign.Bundle(content, s, sign.BundleOptions{})
	if err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	return protojson.MarshalOptions{Multiline: true, Indent: "  "}.Marshal(b)
}

// Verifier checks bundles against one trusted public key.
type Verifier struct {
	hint     string
	verifier *verify.Verifier
}

// LoadVerifier reads a PEM public key.
func LoadVerifier(pemData []byte) (*Verifier, error) {
	block, _ := pem.Decode(pemData)
	if block == nil || block.Type != "PUBLIC KEY" {
		return nil, errors.New("public key: no PEM \"PUBLIC KEY\" block")
	}
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("public key: %w", err)
	}
	hint, err := Fingerprint(pub)
	if err != nil {
		return nil, err
	}
	sv, err := signature.LoadVerifier(pub, crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("public key: %w", err)
	}
	// The key is trusted for all time: with no timestamp authority nothing dates a signature.
	key := root.NewExpiringKey(sv, time.Time{}, time.Time{})
	material := root.NewTrustedPublicKeyMaterial(func(h string) (root.TimeConstrainedVerifier, error) {
		if h != hint {
			return nil, fmt.Errorf("signed by key %s, not by the trusted key %s", h, hint)
		}
		return key, nil
	})
	v, err := verify.NewVerifier(material, verify.WithNoObserverTimestamps())
	if err != nil {
		return nil, err
	}
	return &Verifier{hint: hint, verifier: v}, nil
}

// Hint is the trusted key's fingerprint.
func (v *Verifier) Hint() string { return v.hint }

// VerifyBlob checks that bundleJSON is a valid signature of data by the trusted key.
func (v *Verifier) VerifyBlob(bundleJSON, data []byte) error {
	b, err := parseBundle(bundleJSON)
	if err != nil {
		return err
	}
	_, err = v.verifier.Verify(b, verify.NewPolicy(verify.WithArtifact(bytes.NewReader(data)), verify.WithKey()))
	return err
}

// VerifyStatement checks a DSSE bundle and returns its in-toto statement.
func (v *Verifier) VerifyStatement(bundleJSON []byte) ([]byte, error) {
	b, err := parseBundle(bundleJSON)
	if err != nil {
		return nil, err
	}
	env, err := b.Envelope()
	if err != nil {
		return nil, fmt.Errorf("bundle has no DSSE envelope: %w", err)
	}
	if env.PayloadType != InTotoPayloadType {
		return nil, fmt.Errorf("DSSE payload type %q, want %q", env.PayloadType, InTotoPayloadType)
	}
	// Subjects are compared with the files by the caller, all of them, not one by one here.
	if _, err := v.verifier.Verify(b, verify.NewPolicy(verify.WithoutArtifactUnsafe(), verify.WithKey())); err != nil {
		return nil, err
	}
	payload, err := base64.StdEncoding.DecodeString(env.Payload)
	if err != nil {
		return nil, fmt.Errorf("DSSE payload: %w", err)
	}
	return payload, nil
}

func parseBundle(data []byte) (*bundle.Bundle, error) {
	var pb protobundle.Bundle
	if err := protojson.Unmarshal(data, &pb); err != nil {
		return nil, fmt.Errorf("not a sigstore bundle: %w", err)
	}
	b, err := bundle.NewBundle(&pb)
	if err != nil {
		return nil, fmt.Errorf("not a valid sigstore bundle: %w", err)
	}
	return b, nil
}

// FingerprintHex is a short, printable form of a key hint for messages.
func FingerprintHex(hint string) string {
	raw, err := base64.StdEncoding.DecodeString(hint)
	if err != nil || len(raw) < 8 {
		return hint
	}
	return hex.EncodeToString(raw[:8])
}
