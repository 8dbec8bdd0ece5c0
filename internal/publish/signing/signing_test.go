package signing

import (
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func newKey(t *testing.T, dir, name string) (*Signer, *Verifier) {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := GenerateKey(p); err != nil {
		t.Fatal(err)
	}
	priv, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := os.ReadFile(p + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	s, err := LoadSigner(priv)
	if err != nil {
		t.Fatal(err)
	}
	v, err := LoadVerifier(pub)
	if err != nil {
		t.Fatal(err)
	}
	return s, v
}

func TestBlobSignatures(t *testing.T) {
	dir := t.TempDir()
	s, v := newKey(t, dir, "a.key")
	_, other := newKey(t, dir, "b.key")
	data := []byte("hyperkube bytes")
	bundle, err := s.SignBlob(data)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(bundle), "application/vnd.dev.sigstore.bundle.v0.3+json") {
		t.Errorf("not a v0.3 bundle: %s", bundle)
	}
	for _, tc := range []struct {
		name    string
		v       *Verifier
		data    []byte
		bundle  []byte
		wantErr string
	}{
		{"good", v, data, bundle, ""},
		{"tampered data", v, []byte("hyperkube bytes!"), bundle, "verif"},
		{"wrong key", other, data, bundle, "not by the trusted key"},
		{"not a bundle", v, data, []byte(`{"x":1}`), "bundle"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.v.VerifyBlob(tc.bundle, tc.data)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("VerifyBlob: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("VerifyBlob = %v, want an error containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestStatementSignature(t *testing.T) {
	dir := t.TempDir()
	s, v := newKey(t, dir, "a.key")
	st := []byte(`{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"x","digest":{"sha256":"00"}}],"predicateType":"p","predicate":{}}`)
	bundle, err := s.SignStatement(st)
	if err != nil {
		t.Fatal(err)
	}
	got, err := v.VerifyStatement(bundle)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(st) {
		t.Errorf("payload %s, want %s", got, st)
	}
	for field, value := range map[string]string{
		"payloadType": "text/plain",
		"payload":     base64.StdEncoding.EncodeToString([]byte(strings.Replace(string(st), `"x"`, `"y"`, 1))),
	} {
		var b map[string]any
		if err := json.Unmarshal(bundle, &b); err != nil {
			t.Fatal(err)
		}
		b["dsseEnvelope"].(map[string]any)[field] = value
		tampered, _ := json.Marshal(b)
		if _, err := v.VerifyStatement(tampered); err == nil {
			t.Errorf("a bundle with a changed %s verified", field)
		}
	}
}

func TestKeysAreNeverOverwritten(t *testing.T) {
	p := filepath.Join(t.TempDir(), "k")
	if err := GenerateKey(p); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(p)
	if err := GenerateKey(p); err == nil {
		t.Fatal("GenerateKey overwrote an existing key")
	}
	after, _ := os.ReadFile(p)
	if string(before) != string(after) {
		t.Fatal("key changed")
	}
	if st, _ := os.Stat(p); st.Mode().Perm() != 0o600 {
		t.Errorf("private key mode %v, want 0600", st.Mode().Perm())
	}
	if _, err := LoadSigner([]byte("not pem")); err == nil {
		t.Error("LoadSigner accepted garbage")
	}
}
