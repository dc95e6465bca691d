package renew

import (
	"context"
	"crypto"
	"crypto/x509"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	"pinset.dev/pinset/certs"
	"pinset.dev/pinset/deploy"
	"pinset.dev/pinset/keyring"
	"pinset.dev/pinset/pin"
	"pinset.dev/pinset/policy"
)

// Target is one host whose keys live in a key ring and whose
// certificates come from an ACME CA: the scheduler renews them, and a
// rotation plan's switch deploys the next key's (server.RotationTarget).
type Target struct {
	// Host is the plan's host pattern, as written in the manifest; it
	// must be a concrete name (it is the SNI name and the ACME domain).
	Host string
	// Deploy is where the files go and how the server is reloaded and
	// verified; Deploy.Host defaults to Host, Deploy.Now to the caller's
	// clock.
	Deploy deploy.Target
	// KeyRing is the key ring directory: the host's keys are
	// KeyRing/HOST/<hex pin>.key, their chains <hex pin>.chain.pem
	// (package keyring).
	KeyRing string
	// Domains the certificate names; default [Host].
	Domains []string
	// ACME issues the certificates (DirectoryURL, HTTPClient, AccountKey,
	// AgreeTerms, Timeout...). Solver may be nil when HTTP01Listen is set.
	ACME certs.Options
	// HTTP01Listen, when set, is the address of the HTTP-01 listener
	// started for each issuance (and closed after it).
	HTTP01Listen string
}

// locks holds one mutex per server certificate file (Lock).
var locks sync.Map // string → *sync.Mutex

// Lock takes the target's lock and returns the function that releases
// it: whoever writes the target's files (a renewal's deploy, a plan's
// switch or rollback) holds it for the whole step, so that a renewal of
// the old key cannot land on the server in the middle of a switch to the
// next one. The lock is per process (pinset serve owns its key rings) and
// per certificate file.
func (tg *Target) Lock() (unlock func()) {
	m, _ := locks.LoadOrStore(filepath.Clean(tg.Deploy.CertFile), &sync.Mutex{})
	mu := m.(*sync.Mutex)
	mu.Lock()
	return mu.Unlock
}

// DomainList is Domains, or [Host].
func (tg *Target) DomainList() []string {
	if len(tg.Domains) == 0 {
		return []string{tg.Host}
	}
	return tg.Domains
}

// HostDir is the host's directory in the key ring.
func (tg *Target) HostDir() (string, error) {
	h, err := policy.NormalizeHost(tg.Host)
	if err != nil {
		return "", fmt.Errorf("rotation target %q: %w", tg.Host, err)
	}
	return filepath.Join(tg.KeyRing, h), nil
}

// DeployTarget is Deploy with Host and Now filled in.
func (tg *Target) DeployTarget(now func() time.Time) deploy.Target {
	t := tg.Deploy
	if t.Host == "" {
		t.Host = tg.Host
	}
	if t.Now == nil {
		t.Now = now
	}
	return t
}

// Issue gets a certificate for key from the target's CA (certs.Issue,
// which checks that it carries key and every domain), starting the
// HTTP-01 listener for the issuance when one is configured.
func (tg *Target) Issue(ctx context.Context, key crypto.Signer) (*certs.Result, error) {
	opts := tg.ACME
	if opts.Solver == nil && tg.HTTP01Listen != "" {
		l, err := certs.ListenHTTP01(tg.HTTP01Listen)
		if err != nil {
			return nil, err
		}
		defer l.Close()
		opts.Solver = l
	}
	return certs.Issue(ctx, key, tg.DomainList(), opts)
}

// StoredChain returns the chain kept in ring for key p when
// certs.CheckStored lets it be used for the target's domains at now. A
// missing chain wraps os.ErrNotExist.
func (tg *Target) StoredChain(ring *keyring.Ring, p pin.Pin, now time.Time) ([]*x509.Certificate, []byte, error) {
	b, err := ring.Chain(p)
	if err != nil {
		return nil, nil, err
	}
	chain, err := certs.CheckStored(b, p, tg.DomainList(), now)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", ring.ChainPath(p), err)
	}
	return chain, b, nil
}
