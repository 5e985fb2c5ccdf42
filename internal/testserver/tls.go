package testserver

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// TLSFiles are PEM files generated for a TLS test server: a private CA, a
// server certificate for 127.0.0.1 and "localhost" signed by it, and a
// client certificate (for mutual TLS) signed by it.
type TLSFiles struct {
	CAFile         string // CA certificate
	CertFile       string // server certificate
	KeyFile        string // server private key
	ClientCertFile string // client certificate
	ClientKeyFile  string // client private key
	ServerName     string // name in the server certificate: "localhost" (127.0.0.1 is in it too)

	pool   *x509.CertPool
	client tls.Certificate
}

// ClientConfig returns a client TLS configuration that trusts the CA,
// presents the client certificate and expects ServerName. Each call
// returns a new *tls.Config.
func (f *TLSFiles) ClientConfig() *tls.Config {
	pool, cert := f.pool, f.client
	if pool == nil { // struct built by hand: load the files
		pool = x509.NewCertPool()
		if pem, err := os.ReadFile(f.CAFile); err == nil {
			pool.AppendCertsFromPEM(pem)
		}
		cert, _ = tls.LoadX509KeyPair(f.ClientCertFile, f.ClientKeyFile)
	}
	cfg := &tls.Config{RootCAs: pool, ServerName: f.ServerName, MinVersion: tls.VersionTLS12}
	if len(cert.Certificate) > 0 {
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg
}

// GenerateTLS creates a CA, a server and a client certificate (ECDSA P-256,
// valid for 24 hours) and writes them as PEM files into dir.
func GenerateTLS(dir string) (*TLSFiles, error) {
	now := time.Now()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "yokedcache test CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, fmt.Errorf("testserver: create CA: %w", err)
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, err
	}
	leaf := func(serial int64, cn string, usage x509.ExtKeyUsage, server bool) ([]byte, *ecdsa.PrivateKey, error) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, nil, err
		}
		t := &x509.Certificate{
			SerialNumber: big.NewInt(serial),
			Subject:      pkix.Name{CommonName: cn},
			NotBefore:    now.Add(-time.Hour),
			NotAfter:     now.Add(24 * time.Hour),
			KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
			ExtKeyUsage:  []x509.ExtKeyUsage{usage},
		}
		if server {
			t.DNSNames = []string{"localhost"}
			t.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
		}
		der, err := x509.CreateCertificate(rand.Reader, t, caCert, &key.PublicKey, caKey)
		if err != nil {
			return nil, nil, fmt.Errorf("testserver: create %s certificate: %w", cn, err)
		}
		return der, key, nil
	}
	srvDER, srvKey, err := leaf(2, "localhost", x509.ExtKeyUsageServerAuth, true)
	if err != nil {
		return nil, err
	}
	cliDER, cliKey, err := leaf(3, "yokedcache test client", x509.ExtKeyUsageClientAuth, false)
	if err != nil {
		return nil, err
	}
	f := &TLSFiles{
		CAFile:         filepath.Join(dir, "ca.crt"),
		CertFile:       filepath.Join(dir, "server.crt"),
		KeyFile:        filepath.Join(dir, "server.key"),
		ClientCertFile: filepath.Join(dir, "client.crt"),
		ClientKeyFile:  filepath.Join(dir, "client.key"),
		ServerName:     "localhost",
	}
	if err := writePEM(f.CAFile, "CERTIFICATE", caDER); err != nil {
		return nil, err
	}
	if err := writeCertKey(f.CertFile, f.KeyFile, srvDER, srvKey); err != nil {
		return nil, err
	}
	if err := writeCertKey(f.ClientCertFile, f.ClientKeyFile, cliDER, cliKey); err != nil {
		return nil, err
	}
	f.pool = x509.NewCertPool()
	f.pool.AddCert(caCert)
	f.client, err = tls.LoadX509KeyPair(f.ClientCertFile, f.ClientKeyFile)
	if err != nil {
		return nil, fmt.Errorf("testserver: load client key pair: %w", err)
	}
	return f, nil
}

func writeCertKey(certPath, keyPath string, der []byte, key *ecdsa.PrivateKey) error {
	if err := writePEM(certPath, "CERTIFICATE", der); err != nil {
		return err
	}
	kb, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	return writePEM(keyPath, "PRIVATE KEY", kb)
}

func writePEM(path, typ string, der []byte) error {
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		return fmt.Errorf("testserver: write %s: %w", filepath.Base(path), err)
	}
	return nil
}
