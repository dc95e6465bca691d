// Package certs obtains certificates over ACME (RFC 8555) for a key that
// pinset already holds, and decides when to renew them.
//
// Pins survive shorter certificate lifetimes only when the key outlives
// its certificates: the next key is made first (package keyring), its pin
// shipped in the manifest, and only then does a certificate for it come
// from the CA. So [Issue] never makes a key: it signs the CSR with the key
// it is given (the key never leaves the machine), and refuses what the CA
// returns unless the leaf carries that very key and names every requested
// domain ([MismatchError]). Renewal is the same call with the same key, so
// the pin does not change.
//
// # Protocol
//
// The ACME client is golang.org/x/crypto/acme. It retries a request the CA
// refused with badNonce with a fresh nonce, and honours Retry-After on 429
// and 5xx answers and while polling orders and authorizations; [Issue]
// sets its retry policy ([Backoff]): badNonce is retried at once, a
// Retry-After longer than [Options.MaxRetryAfter] is not waited for but
// returned as a [RateLimitError], every poll is bounded by
// [Options.Timeout].
//
// Challenges are answered by a [Solver]: [HTTP01Server] serves the key
// authorization on a built-in listener, [DNS01Hook] runs a command that sets
// and clears the TXT record.
//
// # Renewal
//
// [Schedule] decides when a certificate is renewed: inside the CA's ACME
// Renewal Information window (RFC 9773, [FetchRenewalInfo]) when it offers
// one, otherwise at two thirds of the certificate's lifetime. The clock is
// an argument.
package certs

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"golang.org/x/crypto/acme"

	"pinset.dev/pinset/internal/redact"
	"pinset.dev/pinset/pin"
	"pinset.dev/pinset/policy"
)

// Defaults.
const (
	DefaultTimeout       = 5 * time.Minute
	DefaultMaxRetryAfter = 2 * time.Minute
	// MaxDomains bounds the names of one certificate (Let's Encrypt allows
	// 100).
	MaxDomains = 100
)

// Options configure Issue.
type Options struct {
	// DirectoryURL is the CA's ACME directory.
	DirectoryURL string
	// HTTPClient talks to the CA; its transport holds the roots that
	// verify the CA's API (--acme-ca-file). Nil means http.DefaultClient.
	HTTPClient *http.Client
	// AccountKey signs the ACME requests (see LoadAccountKey).
	AccountKey crypto.Signer
	// EAB binds a new account to an account at the CA (RFC 8555 §7.3.4).
	EAB *acme.ExternalAccountBinding
	// AgreeTerms accepts the CA's terms of service when it has some;
	// without it an account is not created at such a CA.
	AgreeTerms bool
	// Profile asks for a certificate profile the CA advertises (for
	// example Let's Encrypt's "shortlived").
	Profile string
	// Solver answers the challenges.
	Solver Solver
	// Timeout bounds the whole issuance, polls included.
	Timeout time.Duration
	// MaxRetryAfter is the longest Retry-After waited for on a refused
	// request; a longer one ends Issue with a RateLimitError.
	MaxRetryAfter time.Duration
	// Rand is the randomness of the CSR signature; nil means crypto/rand.
	Rand io.Reader
	// Logf, when set, is told each step.
	Logf func(format string, args ...any)
}

// Result is an issued certificate.
type Result struct {
	// Chain is the leaf followed by the CA's intermediates.
	Chain []*x509.Certificate
	// Pin is the leaf's SPKI pin: the pin of the key Issue was given.
	Pin pin.Pin
	// CertURL is where the CA serves the certificate.
	CertURL string
	// Retries counts the requests the CA refused and that were sent again
	// (badNonce among them).
	Retries int
	// BadNonces counts the badNonce refusals among Retries.
	BadNonces int
}

// ChainPEM is the chain as PEM, leaf first: what servers load.
func (r *Result) ChainPEM() []byte {
	var b []byte
	for _, c := range r.Chain {
		b = append(b, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	return b
}

// MismatchError is returned when the CA's certificate is not for the key
// or the names asked for. Nothing is written in that case.
type MismatchError struct {
	Want, Got pin.Pin
	// Missing lists requested names the leaf does not cover.
	Missing []string
}

func (e *MismatchError) Error() string {
	if e.Want != e.Got {
		return fmt.Sprintf("the CA returned a certificate for key %s, not for the key asked for (%s); it was not used", e.Got, e.Want)
	}
	return fmt.Sprintf("the CA returned a certificate that does not cover %s; it was not used", strings.Join(e.Missing, ", "))
}

// RateLimitError is returned when the CA asked to wait longer than
// Options.MaxRetryAfter (or the time left): try again after RetryAfter.
type RateLimitError struct {
	RetryAfter time.Duration
	Err        error
}

func (e *RateLimitError) Error() string {
	return fmt.Sprintf("the CA asks to wait %s before trying again: %v", e.RetryAfter, e.Err)
}
func (e *RateLimitError) Unwrap() error { return e.Err }

// ChallengeError is returned when the CA could not validate a domain.
type ChallengeError struct {
	Domain, Type string
	Err          error
}

func (e *ChallengeError) Error() string {
	return fmt.Sprintf("%s challenge for %s failed: %v", e.Type, e.Domain, e.Err)
}
func (e *ChallengeError) Unwrap() error { return e.Err }

// NormalizeDomains lowercases, checks and de-duplicates the names a
// certificate is asked for ("*.example.com" wildcards included).
func NormalizeDomains(domains []string) ([]string, error) {
	if len(domains) == 0 {
		return nil, errors.New("no domain given")
	}
	if len(domains) > MaxDomains {
		return nil, fmt.Errorf("%d domains; one certificate covers at most %d", len(domains), MaxDomains)
	}
	var out []string
	for _, d := range domains {
		wild := strings.HasPrefix(d, "*.")
		h, err := policy.NormalizeHost(strings.TrimPrefix(d, "*."))
		if err != nil {
			return nil, fmt.Errorf("domain %q: %w", d, err)
		}
		if strings.ContainsAny(h, ":*") || strings.Trim(h, "0123456789.") == "" {
			return nil, fmt.Errorf("domain %q: a certificate is asked for by name here, not by IP address", d)
		}
		if wild {
			h = "*." + h
		}
		if !slices.Contains(out, h) {
			out = append(out, h)
		}
	}
	return out, nil
}

// Issue obtains a certificate for key covering domains. The CSR is made
// from key; the returned leaf is checked to carry key and every domain.
func Issue(ctx context.Context, key crypto.Signer, domains []string, opts Options) (*Result, error) {
	if opts.AccountKey == nil {
		return nil, errors.New("no ACME account key")
	}
	if opts.Solver == nil {
		return nil, errors.New("no challenge solver (HTTP-01 listener or DNS-01 hook)")
	}
	domains, err := NormalizeDomains(domains)
	if err != nil {
		return nil, err
	}
	want, err := pin.FromPublicKey(key.Public())
	if err != nil {
		return nil, err
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.MaxRetryAfter <= 0 {
		opts.MaxRetryAfter = DefaultMaxRetryAfter
	}
	logf := opts.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()

	bo := &Backoff{MaxRetryAfter: opts.MaxRetryAfter, Deadline: deadline(ctx)}
	c := &acme.Client{
		Key:          opts.AccountKey,
		DirectoryURL: opts.DirectoryURL,
		HTTPClient:   opts.HTTPClient,
		UserAgent:    "pinset",
		RetryBackoff: bo.Next,
	}
	res, err := issue(ctx, c, key, want, domains, opts, logf)
	if res != nil {
		res.Retries, res.BadNonces = int(bo.retries.Load()), int(bo.badNonces.Load())
	}
	if err != nil {
		return nil, bo.explain(fmt.Errorf("%s: %w", redact.URL(opts.DirectoryURL), err))
	}
	return res, nil
}

func deadline(ctx context.Context) time.Time {
	d, _ := ctx.Deadline()
	return d
}

func issue(ctx context.Context, c *acme.Client, key crypto.Signer, want pin.Pin, domains []string, opts Options, logf func(string, ...any)) (*Result, error) {
	dir, err := c.Discover(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading the ACME directory: %w", err)
	}
	if dir.ExternalAccountRequired && opts.EAB == nil {
		return nil, errors.New("the CA requires external account binding: give --eab-kid and --eab-hmac")
	}
	acct := &acme.Account{ExternalAccountBinding: opts.EAB}
	prompt := func(string) bool { return opts.AgreeTerms }
	if dir.Terms != "" && !opts.AgreeTerms {
		// An existing account needs no agreement: look it up first.
		if _, err := c.GetReg(ctx, ""); errors.Is(err, acme.ErrNoAccount) {
			return nil, fmt.Errorf("the CA has terms of service (%s); read them and agree with --agree-tos", redact.URL(dir.Terms))
		} else if err != nil {
			return nil, fmt.Errorf("looking up the ACME account: %w", err)
		}
	} else if _, err := c.Register(ctx, acct, prompt); err != nil && !errors.Is(err, acme.ErrAccountAlreadyExists) {
		return nil, fmt.Errorf("registering the ACME account: %w", err)
	}
	logf("account %s", redact.URL(string(c.KID)))

	var orderOpts []acme.OrderOption
	if opts.Profile != "" {
		orderOpts = append(orderOpts, acme.WithOrderIssuanceProfile(acme.ProfileName(opts.Profile)))
	}
	order, err := c.AuthorizeOrder(ctx, acme.DomainIDs(domains...), orderOpts...)
	if err != nil {
		return nil, fmt.Errorf("creating the order: %w", err)
	}
	logf("order %s: %s", redact.URL(order.URI), order.Status)
	for _, u := range order.AuthzURLs {
		if err := authorize(ctx, c, u, opts.Solver, logf); err != nil {
			return nil, err
		}
	}
	ready, err := c.WaitOrder(ctx, order.URI)
	if err != nil {
		return nil, fmt.Errorf("waiting for the order to be ready: %w", err)
	}
	csr, err := makeCSR(key, domains, opts.Rand)
	if err != nil {
		return nil, err
	}
	ders, certURL, err := c.CreateCertFromOrder(ctx, ready, csr, true)
	if err != nil {
		return nil, fmt.Errorf("finalizing the order: %w", err)
	}
	chain, err := checkChain(ders, want, domains)
	if err != nil {
		return nil, err
	}
	logf("certificate %s: serial %x, not after %s", redact.URL(certURL), chain[0].SerialNumber, chain[0].NotAfter.UTC().Format(time.RFC3339))
	return &Result{Chain: chain, Pin: want, CertURL: certURL}, nil
}

// authorize answers one authorization with the solver's challenge type.
func authorize(ctx context.Context, c *acme.Client, url string, s Solver, logf func(string, ...any)) error {
	z, err := c.GetAuthorization(ctx, url)
	if err != nil {
		return fmt.Errorf("reading authorization: %w", err)
	}
	domain := z.Identifier.Value
	if z.Wildcard {
		domain = "*." + domain
	}
	if z.Status == acme.StatusValid {
		logf("%s: already authorized", domain)
		return nil
	}
	var chal *acme.Challenge
	var offered []string
	for _, ch := range z.Challenges {
		offered = append(offered, ch.Type)
		if ch.Type == s.Type() {
			chal = ch
		}
	}
	if chal == nil {
		return &ChallengeError{Domain: domain, Type: s.Type(), Err: fmt.Errorf("the CA does not offer it (offered: %s)", strings.Join(offered, ", "))}
	}
	keyAuth, err := c.HTTP01ChallengeResponse(chal.Token)
	if err != nil {
		return err
	}
	dnsValue, err := c.DNS01ChallengeRecord(chal.Token)
	if err != nil {
		return err
	}
	cleanup, err := s.Present(ctx, Challenge{Domain: z.Identifier.Value, Token: chal.Token, KeyAuth: keyAuth, DNSValue: dnsValue})
	if err != nil {
		return &ChallengeError{Domain: domain, Type: s.Type(), Err: err}
	}
	defer func() {
		if err := cleanup(context.WithoutCancel(ctx)); err != nil {
			logf("%s: clearing the %s answer failed: %v", domain, s.Type(), err)
		}
	}()
	if _, err := c.Accept(ctx, chal); err != nil {
		return &ChallengeError{Domain: domain, Type: s.Type(), Err: err}
	}
	if _, err := c.WaitAuthorization(ctx, z.URI); err != nil {
		return &ChallengeError{Domain: domain, Type: s.Type(), Err: err}
	}
	logf("%s: %s validated", domain, s.Type())
	return nil
}

// makeCSR signs a request for domains with key: the CA learns the public
// key from it, never the private one.
func makeCSR(key crypto.Signer, domains []string, rnd io.Reader) ([]byte, error) {
	if rnd == nil {
		rnd = rand.Reader
	}
	tmpl := &x509.CertificateRequest{DNSNames: domains}
	if len(domains[0]) <= 64 {
		tmpl.Subject = pkix.Name{CommonName: domains[0]}
	}
	csr, err := x509.CreateCertificateRequest(rnd, tmpl, key)
	if err != nil {
		return nil, fmt.Errorf("making the CSR: %w", err)
	}
	return csr, nil
}

// checkChain parses what the CA returned and accepts it only when the
// leaf carries the key asked for and covers every domain. It is the one
// place that decides whether an ACME answer is used.
func checkChain(ders [][]byte, want pin.Pin, domains []string) ([]*x509.Certificate, error) {
	if len(ders) == 0 {
		return nil, errors.New("the CA returned no certificate")
	}
	chain := make([]*x509.Certificate, len(ders))
	for i, d := range ders {
		c, err := x509.ParseCertificate(d)
		if err != nil {
			return nil, fmt.Errorf("certificate %d from the CA: %w", i, err)
		}
		chain[i] = c
	}
	leaf := chain[0]
	if got := pin.FromCertificate(leaf); got != want {
		return nil, &MismatchError{Want: want, Got: got}
	}
	var missing []string
	for _, d := range domains {
		if leaf.VerifyHostname(strings.Replace(d, "*", "wildcard-check", 1)) != nil {
			missing = append(missing, d)
		}
	}
	if len(missing) > 0 {
		return nil, &MismatchError{Want: want, Got: want, Missing: missing}
	}
	for i := 1; i < len(chain); i++ {
		if err := chain[i-1].CheckSignatureFrom(chain[i]); err != nil {
			return nil, fmt.Errorf("the CA's chain is out of order: certificate %d is not signed by %d: %w", i-1, i, err)
		}
	}
	return chain, nil
}

// MaxStoredChain bounds the certificates of a stored chain (CheckStored).
const MaxStoredChain = 8

// ExpiredError: a stored certificate is not valid at the time asked for.
type ExpiredError struct {
	NotBefore, NotAfter, At time.Time
}

func (e *ExpiredError) Error() string {
	if e.At.Before(e.NotBefore) {
		return fmt.Sprintf("the certificate is valid only from %s", e.NotBefore.UTC().Format(time.RFC3339))
	}
	return fmt.Sprintf("the certificate expired at %s", e.NotAfter.UTC().Format(time.RFC3339))
}

// CheckStored decides whether a chain the CA issued earlier (a PEM file
// kept in a key ring) may still be used for the key with pin want and
// domains at now: the same checks as a fresh answer from the CA
// (checkChain: the key, every name, the order of the chain), at most
// MaxStoredChain certificates, and the leaf valid at now (ExpiredError).
func CheckStored(chainPEM []byte, want pin.Pin, domains []string, now time.Time) ([]*x509.Certificate, error) {
	domains, err := NormalizeDomains(domains)
	if err != nil {
		return nil, err
	}
	var ders [][]byte
	for rest := chainPEM; ; {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("a %s block in a certificate chain", b.Type)
		}
		if len(ders) == MaxStoredChain {
			return nil, fmt.Errorf("more than %d certificates in the chain", MaxStoredChain)
		}
		ders = append(ders, b.Bytes)
	}
	chain, err := checkChain(ders, want, domains)
	if err != nil {
		return nil, err
	}
	if leaf := chain[0]; now.Before(leaf.NotBefore) || now.After(leaf.NotAfter) {
		return nil, &ExpiredError{NotBefore: leaf.NotBefore, NotAfter: leaf.NotAfter, At: now}
	}
	return chain, nil
}
