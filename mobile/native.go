package mobile

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"

	"pinset.dev/pinset/enforce"
)

// Checking pins inside the app's own networking stack.
//
// A platform trust hook (Android: an X509TrustManager, see
// mobile/android/PinsetTrustManager.java; iOS: a URLSessionDelegate or an
// Alamofire ServerTrustEvaluating, see mobile/ios) first lets the platform
// verify the server's chain, then calls [Client.CheckServerTrusted] with
// the chain the platform VERIFIED:
//
//   - Android: the List<X509Certificate> returned by
//     X509TrustManagerExtensions.checkServerTrusted(chain, authType, host),
//     never the chain passed to checkServerTrusted (what the server sent);
//   - iOS: SecTrustCopyCertificateChain(trust), called after
//     SecTrustEvaluateWithError(trust, &error) returned true.
//
// The certificates a server sends are not evidence: a server holding any
// certificate from a trusted CA can append the genuine pinned certificate
// to what it serves (CVE-2016-2402). The verified chain holds only
// certificates the platform linked from the leaf to a trust anchor.

// Limits on a chain handed to CheckServerTrusted.
const (
	MaxChainBytes = 256 << 10
	MaxChainCerts = 16
)

// ErrChainNotVerified is returned by CheckServerTrusted for a chain that
// cannot be the platform's verified chain: empty, unparsable, too large,
// or with a certificate not issued by the next one (the server's own list
// with a certificate appended, CVE-2016-2402). Fix the integration: pass
// the chain the platform returned from verification.
var ErrChainNotVerified = errors.New("pinset: not a verified certificate chain")

// ErrNoHost is returned by CheckServerTrusted without a host name: the
// policy that applies is chosen by the name the chain was verified for.
var ErrNoHost = errors.New("pinset: CheckServerTrusted needs the host name the chain was verified for")

// CheckServerTrusted makes the pin decision of package enforce
// ([enforce.Enforcer.Check], the same one as for [Client.Fetch]) for a
// chain the platform verified for host: nil when the host has no policy
// or the chain holds a pinned key, otherwise an error matching
// enforce.ErrPinMismatch. A failure raises a "pin-failure" event and
// queues a report, as on connections made by Fetch; a report-only policy
// returns nil after doing so. port goes into reports (0 when unknown).
//
// verifiedChain is the platform's verified chain, leaf first: DER
// certificates one after the other (Java: each getEncoded(); Swift: each
// SecCertificateCopyData) or PEM blocks. A chain that is not linked
// (each certificate issued by the next) is refused with
// ErrChainNotVerified before any pin is looked at.
func (c *Client) CheckServerTrusted(host string, port int, verifiedChain []byte) error {
	if host == "" {
		return ErrNoHost
	}
	chain, err := parseVerifiedChain(verifiedChain)
	if err != nil {
		return err
	}
	return c.c.CheckConnection(enforce.Connection{Host: host, Port: port, VerifiedChains: [][]*x509.Certificate{chain}})
}

// parseVerifiedChain reads a chain handed over from the platform: PEM
// blocks (CERTIFICATE only, nothing else around them) or concatenated DER,
// within MaxChainBytes and MaxChainCerts, each certificate issued by the
// next.
func parseVerifiedChain(b []byte) ([]*x509.Certificate, error) {
	switch {
	case len(b) == 0:
		return nil, fmt.Errorf("%w: empty", ErrChainNotVerified)
	case len(b) > MaxChainBytes:
		return nil, fmt.Errorf("%w: %d bytes, more than %d", ErrChainNotVerified, len(b), MaxChainBytes)
	}
	var certs []*x509.Certificate
	if rest := bytes.TrimSpace(b); bytes.HasPrefix(rest, []byte("-----BEGIN")) {
		for len(rest) > 0 {
			var blk *pem.Block
			blk, rest = pem.Decode(rest)
			if blk == nil {
				return nil, fmt.Errorf("%w: text after the last PEM block", ErrChainNotVerified)
			}
			if blk.Type != "CERTIFICATE" {
				return nil, fmt.Errorf("%w: a %q PEM block, want CERTIFICATE", ErrChainNotVerified, blk.Type)
			}
			if len(certs) == MaxChainCerts {
				return nil, fmt.Errorf("%w: more than %d certificates", ErrChainNotVerified, MaxChainCerts)
			}
			cert, err := x509.ParseCertificate(blk.Bytes)
			if err != nil {
				return nil, fmt.Errorf("%w: certificate %d: %v", ErrChainNotVerified, len(certs), err)
			}
			certs = append(certs, cert)
			rest = bytes.TrimSpace(rest)
		}
	} else {
		var err error
		if certs, err = x509.ParseCertificates(b); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrChainNotVerified, err)
		}
		if len(certs) > MaxChainCerts {
			return nil, fmt.Errorf("%w: %d certificates, more than %d", ErrChainNotVerified, len(certs), MaxChainCerts)
		}
	}
	if len(certs) == 0 {
		return nil, fmt.Errorf("%w: no certificate", ErrChainNotVerified)
	}
	for i := 0; i+1 < len(certs); i++ {
		if err := linked(certs[i], certs[i+1]); err != nil {
			return nil, fmt.Errorf("%w: certificate %d (%s) is not issued by certificate %d (%s): %v; pass the chain the platform verified, not the one the server sent",
				ErrChainNotVerified, i, certs[i].Subject, i+1, certs[i+1].Subject, err)
		}
	}
	return certs, nil
}

// linked reports whether child is issued by parent: the names link and
// parent's key signed child. A signature Go does not verify (SHA-1) is not
// a link: letting it through would let a list with an appended pinned
// certificate pass unchecked.
func linked(child, parent *x509.Certificate) error {
	if !bytes.Equal(child.RawIssuer, parent.RawSubject) {
		return errors.New("issuer and subject names differ")
	}
	return child.CheckSignatureFrom(parent)
}
