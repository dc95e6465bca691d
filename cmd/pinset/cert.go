package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/crypto/acme"

	"pinset.dev/pinset/certs"
	"pinset.dev/pinset/internal/atomicfile"
	"pinset.dev/pinset/keyring"
	"pinset.dev/pinset/pin"
)

func init() { addCommand(newCertCmd) }

// certPick is the random point of an ARI window (certs.Schedule); tests
// replace it.
var certPick = mrand.Float64

// certHelp is the long help of `newCertCmd`.
const certHelp = `pinset cert obtains certificates from an ACME CA (Let's Encrypt, or any
RFC 8555 CA) for a key you already have: the next key whose pin is in the
manifest. The CSR is made from the key, which never leaves the machine, and
the certificate is used only if it carries that key. Renewal keeps the key,
so the pin does not change. See docs/rotation.md.

Examples:
  pinset key new --tls next --alg p256
  pinset cert issue --acme-directory https://acme.example/directory --agree-tos \
      --key next.key --domain api.example.com --http01-listen :80 --out next.crt
  pinset cert renew --acme-directory https://acme.example/directory --key next.key --out next.crt`

func newCertCmd() *cobra.Command {
	return group("cert", "Get certificates over ACME for keys pinset made, and renew them with the same key", certHelp,
		newCertIssueCmd(), newCertRenewCmd())
}

// certACMEOptions are the flags shared by issue and renew.
type certACMEOptions struct {
	directory, caFile, accountKey string
	keyFile, out                  string
	domains                       []string
	http01, dns01                 string
	eabKID, eabHMAC, profile      string
	agreeTOS                      bool
	timeout                       time.Duration
}

func (o *certACMEOptions) addFlags(f *pflag.FlagSet) {
	f.StringVar(&o.directory, "acme-directory", "", "the CA's ACME directory `URL` (e.g. https://acme-v02.api.letsencrypt.org/directory)")
	f.StringVar(&o.caFile, "acme-ca-file", "", "also trust the CA roots in `FILE` for the ACME API (a private or test CA)")
	f.StringVar(&o.accountKey, "account-key", "", "the ACME account key `FILE`; made (P-256, mode 0600) when missing (default: acme-account.key beside --out)")
	f.StringVar(&o.keyFile, "key", "", "the server's private key `FILE` the certificate is for")
	f.StringVar(&o.out, "out", "", "write the chain (leaf first, PEM) to `CERTFILE`, replaced atomically")
	f.StringArrayVar(&o.domains, "domain", nil, "a `NAME` the certificate covers (repeat; *.example.com needs DNS-01)")
	f.StringVar(&o.http01, "http01-listen", "", "answer HTTP-01 on `ADDR` (host:port; the CA connects to port 80 of each name)")
	f.StringVar(&o.dns01, "dns01-hook", "", "answer DNS-01 by running `CMD` set|clear _acme-challenge.NAME VALUE (split on spaces, no shell)")
	f.StringVar(&o.eabKID, "eab-kid", "", "external account binding key `ID` from the CA")
	f.StringVar(&o.eabHMAC, "eab-hmac", "", "external account binding HMAC `KEY` (base64url) from the CA")
	f.StringVar(&o.profile, "profile", "", "ask for the CA's certificate profile `NAME` (e.g. shortlived)")
	f.BoolVar(&o.agreeTOS, "agree-tos", false, "agree to the CA's terms of service when creating the account")
	durationVar(f, &o.timeout, "timeout", certs.DefaultTimeout, "give up on the CA after this long (polls included)")
}

// issue runs one ACME issuance for the key in o.keyFile and writes the
// chain to o.out.
func (o *certACMEOptions) issue(cmd *cobra.Command, domains []string) (*certs.Result, error) {
	if err := o.check(); err != nil {
		return nil, err
	}
	key, err := keyring.ReadFile(o.keyFile)
	if err != nil {
		return nil, err
	}
	opts, err := o.options(cmd.ErrOrStderr())
	if err != nil {
		return nil, err
	}
	if o.http01 != "" {
		s, err := certs.ListenHTTP01(o.http01)
		if err != nil {
			return nil, err
		}
		defer s.Close()
		opts.Solver = s
	} else {
		opts.Solver = &certs.DNS01Hook{Command: strings.Fields(o.dns01)}
	}
	res, err := certs.Issue(cmd.Context(), key, domains, opts)
	if err != nil {
		return nil, err
	}
	if err := atomicfile.WriteFile(o.out, res.ChainPEM(), atomicfile.Options{Perm: 0o644}); err != nil {
		return nil, err
	}
	return res, nil
}

// check refuses flags that are missing or do not go together.
func (o *certACMEOptions) check() error {
	if o.directory == "" || o.keyFile == "" || o.out == "" {
		return errorWithHint(errors.New("--acme-directory, --key and --out are required"), "pinset cert issue --acme-directory URL --key api-next.key --domain api.example.com --http01-listen :80 --out api.pem")
	}
	if (o.http01 == "") == (o.dns01 == "") {
		return errorWithHint(errors.New("choose one challenge: --http01-listen ADDR or --dns01-hook CMD"), "HTTP-01 needs port 80 of every name to reach ADDR; DNS-01 needs a command that can set TXT records")
	}
	if (o.eabKID == "") != (o.eabHMAC == "") {
		return errors.New("--eab-kid and --eab-hmac go together")
	}
	return nil
}

// options are certs' options but for the solver: the account key (made
// when missing), the CA's HTTP client, the external account binding.
func (o *certACMEOptions) options(errw io.Writer) (certs.Options, error) {
	acctFile := o.accountKey
	if acctFile == "" {
		acctFile = filepath.Join(filepath.Dir(o.out), "acme-account.key")
	}
	acct, created, err := certs.LoadAccountKey(acctFile, trustRand)
	if err != nil {
		return certs.Options{}, err
	}
	if created {
		fmt.Fprintf(errw, "%s: new ACME account key (mode 0600)\n", acctFile)
	}
	hc, err := certHTTPClient(o.caFile)
	if err != nil {
		return certs.Options{}, err
	}
	opts := certs.Options{
		DirectoryURL: o.directory,
		HTTPClient:   hc,
		AccountKey:   acct,
		AgreeTerms:   o.agreeTOS,
		Profile:      o.profile,
		Timeout:      o.timeout,
		Rand:         trustRand,
		Logf:         func(f string, a ...any) { fmt.Fprintf(errw, "acme: "+f+"\n", a...) },
	}
	if o.eabKID != "" {
		mac, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(o.eabHMAC, "="))
		if err != nil {
			return certs.Options{}, fmt.Errorf("--eab-hmac: not base64url: %w", err)
		}
		opts.EAB = &acme.ExternalAccountBinding{KID: o.eabKID, Key: mac}
	}
	return opts, nil
}

// certHTTPClient trusts the system roots plus caFile (loadCAs).
func certHTTPClient(caFile string) (*http.Client, error) {
	if caFile == "" {
		return &http.Client{Timeout: time.Minute}, nil
	}
	pool, err := loadCAs("--acme-ca-file", caFile)
	if err != nil {
		return nil, err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool}
	return &http.Client{Timeout: time.Minute, Transport: tr}, nil
}

// printIssued prints the result and its renewal plan.
func printIssued(w io.Writer, out string, res *certs.Result, plan certs.Plan) {
	leaf := res.Chain[0]
	fmt.Fprintf(w, "%s: certificate for %s, valid %s to %s\n", out, strings.Join(leaf.DNSNames, ", "), leaf.NotBefore.UTC().Format(time.RFC3339), leaf.NotAfter.UTC().Format(time.RFC3339))
	fmt.Fprintf(w, "pin: %s\n", res.Pin)
	printPlan(w, plan)
}

func printPlan(w io.Writer, plan certs.Plan) {
	how := "two thirds of the lifetime (the CA offers no renewal information)"
	if plan.Source == "ari" {
		how = "inside the CA's renewal window (ARI)"
	}
	fmt.Fprintf(w, "renew: %s, %s\n", plan.At.UTC().Format(time.RFC3339), how)
	if plan.Note != "" {
		fmt.Fprintf(w, "note: %s\n", plan.Note)
	}
}

// certPlan asks the CA for renewal information and schedules the renewal
// of leaf; an ARI failure is printed, and the plan falls back to two
// thirds of the lifetime.
func certPlan(ctx context.Context, cmd *cobra.Command, o *certACMEOptions, leaf *x509.Certificate) certs.Plan {
	now := trustNow()
	hc, err := certHTTPClient(o.caFile)
	var ri *certs.RenewalInfo
	if err == nil {
		ri, err = certs.FetchRenewalInfo(ctx, hc, o.directory, leaf, now)
	}
	if err != nil && !errors.Is(err, certs.ErrNoARI) {
		warningf(cmd.ErrOrStderr(), "renewal information: %v; scheduling at two thirds of the lifetime", err)
	}
	return certs.Schedule(leaf.NotBefore, leaf.NotAfter, ri, now, certPick())
}

// certIssueHelp is the long help of `newCertIssueCmd`.
const certIssueHelp = `pinset cert issue asks an ACME CA for a certificate for KEY covering every
--domain, answers the CA's challenges, checks that the certificate carries
KEY and every name, and writes the chain (leaf first) to CERTFILE. It prints
the pin (the same as pinset pin KEY) and when to renew: inside the CA's
ACME Renewal Information window (RFC 9773) when it has one, otherwise at
two thirds of the lifetime.

Challenges: --http01-listen ADDR serves HTTP-01 on a built-in listener (the
CA connects to port 80 of every name: listen on :80 or forward
/.well-known/acme-challenge/ to ADDR); --dns01-hook CMD runs
"CMD set _acme-challenge.NAME VALUE" before validation and
"CMD clear _acme-challenge.NAME VALUE" after it (CMD is split on spaces
and run without a shell; "set" returns once the record is published).

badNonce refusals are retried, Retry-After is honoured up to 2 minutes
(longer: pinset says when to try again), every poll ends at --timeout.

Examples:
  pinset cert issue --acme-directory https://acme-v02.api.letsencrypt.org/directory \
    --agree-tos --key api-next.key --domain api.example.com \
    --http01-listen :80 --out api-next.pem
  pinset cert issue --acme-directory URL --key k.key --domain '*.example.com' \
    --dns01-hook '/usr/local/bin/dns-hook --zone example.com' --out wild.pem`

func newCertIssueCmd() *cobra.Command {
	var o certACMEOptions
	cmd := &cobra.Command{
		Use:   "issue --acme-directory URL --key KEY --domain NAME [--domain NAME...] --out CERTFILE",
		Short: "Get a certificate for an existing key over ACME",
		Long:  certIssueHelp,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(o.domains) == 0 {
				return errorWithHint(errors.New("no --domain given"), "name every host the certificate is for: --domain api.example.com")
			}
			res, err := o.issue(cmd, o.domains)
			if err != nil {
				return err
			}
			printIssued(cmd.OutOrStdout(), o.out, res, certPlan(cmd.Context(), cmd, &o, res.Chain[0]))
			return nil
		},
	}
	o.addFlags(cmd.Flags())
	return cmd
}

// certRenewHelp is the long help of `newCertRenewCmd`.
const certRenewHelp = `pinset cert renew reads the certificate in CERTFILE, checks that KEY is its
key, and asks the CA (ACME Renewal Information, RFC 9773) when to renew;
without an answer the time is two thirds of the lifetime. When that time
has come (or with --force) it gets a new certificate for the same key and
the same names (or the --domain names given) and replaces CERTFILE. The key,
and so the pin, does not change. Otherwise it prints when to run again.

Examples:
  pinset cert renew --acme-directory https://acme.example/directory --key next.key --out next.crt
  pinset cert renew --acme-directory https://acme.example/directory --key next.key \
      --out next.crt --force --http01-listen :80`

func newCertRenewCmd() *cobra.Command {
	var (
		o     certACMEOptions
		force bool
	)
	cmd := &cobra.Command{
		Use:   "renew --acme-directory URL --key KEY --out CERTFILE",
		Short: "Renew CERTFILE with the same key when it is due",
		Long:  certRenewHelp,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.out == "" || o.keyFile == "" {
				return errors.New("--out CERTFILE and --key KEY are required")
			}
			b, err := readInput(o.out, 1<<20)
			if err != nil {
				return err
			}
			items, err := pin.ParseItems(b, o.out)
			if err != nil {
				return err
			}
			block, err := firstCert(b)
			if err != nil {
				return fmt.Errorf("%s: %w", o.out, err)
			}
			key, err := keyring.ReadFile(o.keyFile)
			if err != nil {
				return err
			}
			kp, _ := keyring.Pin(key)
			if len(items) == 0 || items[0].Pin != kp {
				return errorWithHint(fmt.Errorf("%s is not a certificate for %s (pin %s)", o.out, o.keyFile, kp), "renew keeps the key: give the key of the certificate, or use pinset cert issue for a new key")
			}
			out := cmd.OutOrStdout()
			plan := certPlan(cmd.Context(), cmd, &o, block)
			if !plan.Due && !force {
				fmt.Fprintf(out, "%s: not due\n", o.out)
				printPlan(out, plan)
				return nil
			}
			domains := o.domains
			if len(domains) == 0 {
				domains = block.DNSNames
			}
			res, err := o.issue(cmd, domains)
			if err != nil {
				return err
			}
			printIssued(out, o.out, res, certPlan(cmd.Context(), cmd, &o, res.Chain[0]))
			return nil
		},
	}
	o.addFlags(cmd.Flags())
	cmd.Flags().BoolVar(&force, "force", false, "renew now, whatever the schedule says")
	return cmd
}

// firstCert parses the first certificate of a PEM file.
func firstCert(b []byte) (*x509.Certificate, error) {
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			return nil, errors.New("no PEM certificate")
		}
		if blk.Type == "CERTIFICATE" {
			return x509.ParseCertificate(blk.Bytes)
		}
	}
}
