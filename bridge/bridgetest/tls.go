package bridgetest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TLSFiles are PEM files of a throw-away test CA and the certificates it
// issued, written into a temp dir by [WriteTLSFiles].
type TLSFiles struct {
	CAFile     string // the CA certificate
	ServerCert string // server certificate for 127.0.0.1, localhost and the given names
	ServerKey  string
	ClientCert string // client certificate, CN "bridgetest-client"
	ClientKey  string
}

// WriteTLSFiles creates a CA, a server certificate valid for 127.0.0.1,
// localhost and serverNames, and a client certificate, all generated with
// crypto/x509 for this test only.
func WriteTLSFiles(t testing.TB, serverNames ...string) TLSFiles {
	t.Helper()
	dir := t.TempDir()
	caKey, caCert := newCert(t, nil, nil, &x509.Certificate{
		Subject:               pkix.Name{CommonName: "bridgetest CA"},
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	})
	f := TLSFiles{
		CAFile:     filepath.Join(dir, "ca.crt"),
		ServerCert: filepath.Join(dir, "server.crt"),
		ServerKey:  filepath.Join(dir, "server.key"),
		ClientCert: filepath.Join(dir, "client.crt"),
		ClientKey:  filepath.Join(dir, "client.key"),
	}
	writePEM(t, f.CAFile, "CERTIFICATE", caCert.Raw)

	key, cert := newCert(t, caKey, caCert, &x509.Certificate{
		Subject:     pkix.Name{CommonName: "bridgetest server"},
		DNSNames:    append([]string{"localhost"}, serverNames...),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	writePEM(t, f.ServerCert, "CERTIFICATE", cert.Raw)
	writeKey(t, f.ServerKey, key)

	key, cert = newCert(t, caKey, caCert, &x509.Certificate{
		Subject:     pkix.Name{CommonName: "bridgetest-client"},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	writePEM(t, f.ClientCert, "CERTIFICATE", cert.Raw)
	writeKey(t, f.ClientKey, key)
	return f
}

// MosquittoListener returns the listener lines for [Options.Listener]
// that serve TLS with these files; requireCert asks clients for a
// certificate issued by the CA.
func (f TLSFiles) MosquittoListener(requireCert bool) string {
	s := "cafile " + f.CAFile + "\ncertfile " + f.ServerCert + "\nkeyfile " + f.ServerKey + "\n"
	if requireCert {
		s += "require_certificate true\n"
	}
	return s
}

func newCert(t testing.TB, parentKey *ecdsa.PrivateKey, parent, tmpl *x509.Certificate) (*ecdsa.PrivateKey, *x509.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("generate key: %v", err)
	}
	sn, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		t.Fatalf("serial number: %v", err)
	}
	tmpl.SerialNumber = sn
	tmpl.NotBefore = time.Now().Add(-time.Hour)
	tmpl.NotAfter = time.Now().Add(24 * time.Hour)
	if parent == nil { // self-signed
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatalf("create certificate: %v", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("parse certificate: %v", err)
	}
	return key, cert
}

func writeKey(t testing.TB, path string, key *ecdsa.PrivateKey) {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatalf("marshal key: %v", err)
	}
	writePEM(t, path, "PRIVATE KEY", der)
}

func writePEM(t testing.TB, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatalf("write %s: %v", path, err)
	}
}
