// Package deploy puts a certificate chain and its key on a server and
// proves that the server serves the expected key, or puts the previous
// files back.
//
// [Deploy] is the one owner of that decision. In order:
//
//  1. The chain's leaf must carry the key being written ([PairError];
//     nothing is written otherwise).
//  2. The current files are read and kept.
//  3. The key file, then the chain file, are replaced atomically: a
//     temporary file in the same directory, mode 0600, synced, renamed.
//  4. The reload command runs (for example nginx -s reload).
//  5. Every address of the host is checked with package check (the same
//     handshake, SNI and chain verification clients do) until each one
//     serves a verified chain whose leaf key is the expected pin, or
//     until Settle has passed: servers such as nginx reload in the
//     background after the command returns.
//  6. On a reload failure or a mismatch, the previous files are restored,
//     the reload runs again, and the previous key is verified the same
//     way. The error ([ReloadError], [VerifyError]) says what was seen
//     and whether the rollback worked.
//
// The expected pin is an argument, not read from the files: it is the key
// the rotation plan (or the operator) says should now be live, so files
// for the wrong key are caught by verification, not trusted.
package deploy

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"strings"
	"time"

	"pinset.dev/pinset/check"
	"pinset.dev/pinset/internal/atomicfile"
	"pinset.dev/pinset/keyring"
	"pinset.dev/pinset/pin"
	"pinset.dev/pinset/policy"
)

// Defaults.
const (
	DefaultSettle        = 15 * time.Second
	DefaultStable        = 3
	DefaultInterval      = 250 * time.Millisecond
	DefaultReloadTimeout = time.Minute
	// maxFile bounds the chain and key files read back for a rollback.
	maxFile = 1 << 20
)

// Target is where one host's certificate goes and how its server is
// reloaded and checked.
type Target struct {
	// Host is the name clients connect to (the SNI name checked).
	Host string
	// Port is the TLS port; zero means 443.
	Port int
	// CertFile and KeyFile are the files the server loads.
	CertFile, KeyFile string
	// Reload is the command that makes the server load them, run without
	// a shell (e.g. ["nginx", "-s", "reload"]).
	Reload []string
	// ReloadTimeout bounds each run of Reload.
	ReloadTimeout time.Duration
	// RootCAs verify the served chains, as clients do; nil means the
	// system roots.
	RootCAs *x509.CertPool
	// Resolve overrides DNS for the check ("HOST:PORT" → addresses).
	Resolve map[string][]string
	// Settle is how long the new key may take to appear on every address.
	Settle time.Duration
	// Interval is the pause between checks while settling.
	Interval time.Duration
	// Stable is how many rounds in a row every address must serve the
	// expected key before the deploy counts as verified (default 3): a
	// server that reloads in the background (nginx's old workers keep
	// their listening sockets for a moment) may answer one handshake with
	// the new key and the next with the old one.
	Stable int
	// ProbeTimeout bounds each address's handshake.
	ProbeTimeout time.Duration
	// Now is the clock of chain verification; nil means time.Now.
	Now func() time.Time
}

// Result is a deployment that verified.
type Result struct {
	Pin pin.Pin
	// Addresses served the expected key, each one checked.
	Addresses []string
	// Checks counts the check rounds until every address agreed.
	Checks int
}

// PairError: the chain's leaf is not for the key given. Nothing was
// written.
type PairError struct{ Cert, Key pin.Pin }

func (e *PairError) Error() string {
	return fmt.Sprintf("the certificate is for key %s but the key file holds %s; nothing was written", e.Cert, e.Key)
}

// ReloadError: the reload command failed after the new files were
// written. RolledBack says whether the previous files were restored and
// verified.
type ReloadError struct {
	Err         error
	Output      string
	RolledBack  bool
	RollbackErr error
}

func (e *ReloadError) Error() string {
	return fmt.Sprintf("reload failed: %v: %s; %s", e.Err, e.Output, rollbackText(e.RolledBack, e.RollbackErr))
}
func (e *ReloadError) Unwrap() error { return e.Err }

// WrongKeyError: the certificate and key to deploy are for another key
// than the one the deployment must serve; nothing was written.
type WrongKeyError struct {
	Host      string
	Want, Got pin.Pin
}

func (e *WrongKeyError) Error() string {
	return fmt.Sprintf("refusing to deploy key %s to %s: the deployment must serve key %s (nothing was written)", e.Got, e.Host, e.Want)
}

// VerifyError: after the reload, some address did not serve the expected
// key within Settle.
type VerifyError struct {
	Host string
	Want pin.Pin
	// Problems name each address that did not serve Want, and what it did.
	Problems    []string
	RolledBack  bool
	RollbackErr error
}

func (e *VerifyError) Error() string {
	return fmt.Sprintf("%s does not serve key %s: %s; %s", e.Host, e.Want, strings.Join(e.Problems, "; "), rollbackText(e.RolledBack, e.RollbackErr))
}

func rollbackText(ok bool, err error) string {
	switch {
	case ok:
		return "the previous certificate and key were restored and are served again"
	case err != nil:
		return "ROLLBACK FAILED: " + err.Error()
	default:
		return "there were no previous files to restore"
	}
}

// Deploy writes chainPEM and keyPEM to t, reloads the server and verifies
// that every address serves want; see the package comment.
func Deploy(ctx context.Context, t Target, chainPEM, keyPEM []byte, want pin.Pin) (*Result, error) {
	t = t.withDefaults()
	if _, err := policy.NormalizeHost(t.Host); err != nil {
		return nil, fmt.Errorf("deploy target host: %w", err)
	}
	if t.CertFile == "" || t.KeyFile == "" || len(t.Reload) == 0 {
		return nil, errors.New("a deploy target needs a certificate file, a key file and a reload command")
	}
	certPin, err := leafPin(chainPEM)
	if err != nil {
		return nil, fmt.Errorf("the chain to deploy: %w", err)
	}
	key, err := keyring.ParsePEM(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("the key to deploy: %w", err)
	}
	keyPin, err := keyring.Pin(key)
	if err != nil {
		return nil, err
	}
	if certPin != keyPin {
		return nil, &PairError{Cert: certPin, Key: keyPin}
	}
	if certPin != want {
		// Caught before the server could serve it: verification after the
		// reload would roll it back too, but clients connecting in between
		// would meet a key their pins may not hold.
		return nil, &WrongKeyError{Host: t.Host, Want: want, Got: certPin}
	}

	prev, err := readPrevious(t)
	if err != nil {
		return nil, err
	}
	if err := writePair(t, chainPEM, keyPEM); err != nil {
		// A half-done write is undone the same way as a failed check.
		_, rbErr := rollback(ctx, t, prev)
		return nil, errors.Join(fmt.Errorf("writing the new files: %w", err), rbErr)
	}
	if out, err := reload(ctx, t); err != nil {
		ok, rbErr := rollback(ctx, t, prev)
		return nil, &ReloadError{Err: err, Output: out, RolledBack: ok, RollbackErr: rbErr}
	}
	res, problems, err := Verify(ctx, t, want)
	if err != nil {
		return nil, err
	}
	if len(problems) > 0 {
		ok, rbErr := rollback(ctx, t, prev)
		return nil, &VerifyError{Host: t.Host, Want: want, Problems: problems, RolledBack: ok, RollbackErr: rbErr}
	}
	return res, nil
}

func (t Target) withDefaults() Target {
	if t.Port == 0 {
		t.Port = check.DefaultPort
	}
	if t.Settle <= 0 {
		t.Settle = DefaultSettle
	}
	if t.Interval <= 0 {
		t.Interval = DefaultInterval
	}
	if t.Stable <= 0 {
		t.Stable = DefaultStable
	}
	if t.ReloadTimeout <= 0 {
		t.ReloadTimeout = DefaultReloadTimeout
	}
	if t.ProbeTimeout <= 0 {
		t.ProbeTimeout = 5 * time.Second
	}
	return t
}

// leafPin is the pin of the first certificate of a PEM chain.
func leafPin(chainPEM []byte) (pin.Pin, error) {
	rest := chainPEM
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			return pin.Pin{}, errors.New("no PEM certificate")
		}
		if b.Type == "CERTIFICATE" {
			c, err := x509.ParseCertificate(b.Bytes)
			if err != nil {
				return pin.Pin{}, err
			}
			return pin.FromCertificate(c), nil
		}
	}
}

// previous holds the files as they were; nil data means there was none.
type previous struct {
	cert, key []byte
	pin       pin.Pin
}

func readPrevious(t Target) (*previous, error) {
	p := &previous{}
	var err error
	if p.cert, err = readMaybe(t.CertFile); err != nil {
		return nil, err
	}
	if p.key, err = readMaybe(t.KeyFile); err != nil {
		return nil, err
	}
	if p.cert != nil {
		p.pin, _ = leafPin(p.cert) // a previous chain we cannot read is restored, not verified
	}
	return p, nil
}

func readMaybe(name string) ([]byte, error) {
	b, err := os.ReadFile(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if len(b) > maxFile {
		return nil, fmt.Errorf("%s: larger than %d bytes", name, maxFile)
	}
	return b, nil
}

// writePair replaces the key, then the chain. Both get mode 0600: the
// chain is public, but servers read both as root and nothing else needs it.
func writePair(t Target, chainPEM, keyPEM []byte) error {
	if err := atomicfile.WriteFile(t.KeyFile, keyPEM, atomicfile.Options{Perm: 0o600}); err != nil {
		return err
	}
	return atomicfile.WriteFile(t.CertFile, chainPEM, atomicfile.Options{Perm: 0o600})
}

// reload runs the reload command and returns its (capped) output.
func reload(ctx context.Context, t Target) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, t.ReloadTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, t.Reload[0], t.Reload[1:]...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	s := out.String()
	if len(s) > 4<<10 {
		s = s[:4<<10] + "…"
	}
	return strings.TrimSpace(s), err
}

// rollback restores prev, reloads and, when the previous chain was
// readable, verifies that its key is served again. ok is true only when
// all of that worked.
func rollback(ctx context.Context, t Target, prev *previous) (ok bool, err error) {
	ctx = context.WithoutCancel(ctx) // a cancelled deploy still puts the old files back
	if prev.cert == nil && prev.key == nil {
		// Nothing to go back to: remove the new files so the server
		// does not pick them up later.
		os.Remove(t.CertFile)
		os.Remove(t.KeyFile)
		return false, nil
	}
	if prev.cert == nil || prev.key == nil {
		return false, errors.New("only one of the previous certificate and key existed; restore them by hand")
	}
	if err := writePair(t, prev.cert, prev.key); err != nil {
		return false, fmt.Errorf("restoring the previous files: %w", err)
	}
	if out, err := reload(ctx, t); err != nil {
		return false, fmt.Errorf("reload after restoring: %w: %s", err, out)
	}
	if prev.pin.IsZero() {
		return false, errors.New("the previous files were restored, but the previous chain could not be read to verify them")
	}
	_, problems, err := Verify(ctx, t, prev.pin)
	if err != nil {
		return false, err
	}
	if len(problems) > 0 {
		return false, fmt.Errorf("after restoring, the previous key %s is not served: %s", prev.pin, strings.Join(problems, "; "))
	}
	return true, nil
}

// Verify checks, until t.Settle has passed, that every address of t.Host
// serves a chain that verifies against t.RootCAs and whose leaf key is
// want, in t.Stable rounds in a row. It returns the result when they do,
// or the problems of the last round (or that the key was not yet served
// steadily). The error is for a
// cancelled context or a bad host.
func Verify(ctx context.Context, t Target, want pin.Pin) (*Result, []string, error) {
	t = t.withDefaults()
	deadline := time.Now().Add(t.Settle)
	pol := []policy.Policy{{Pattern: t.Host, Pins: []pin.Pin{want}}}
	target := check.Target{Host: t.Host, Port: t.Port}
	var last []string
	for round, good := 1, 0; ; round++ {
		rep, err := check.Run(ctx, pol, []check.Target{target}, check.Options{
			RootCAs: t.RootCAs, Resolve: t.Resolve, Timeout: t.ProbeTimeout, Now: t.Now,
		})
		if err != nil {
			return nil, nil, err
		}
		res, problems := judge(rep, want)
		if len(problems) == 0 {
			good, last = good+1, nil
			if good >= t.Stable {
				res.Checks = round
				return res, nil, nil
			}
		} else {
			good, last = 0, problems
		}
		if !time.Now().Add(t.Interval).Before(deadline) {
			if last == nil {
				last = []string{fmt.Sprintf("%s: the expected key was served in %d rounds in a row, %d needed, before the settle time ran out", t.Host, good, t.Stable)}
			}
			return nil, last, nil
		}
		select {
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		case <-time.After(t.Interval):
		}
	}
}

// judge lists every address that does not serve want as its verified leaf.
func judge(rep *check.Report, want pin.Pin) (*Result, []string) {
	res := &Result{Pin: want}
	var problems []string
	for _, h := range rep.Hosts {
		if h.Error != "" {
			problems = append(problems, h.Host+": "+h.Error)
		}
		if len(h.Addresses) == 0 && h.Error == "" {
			problems = append(problems, h.Host+": no address to check")
		}
		for _, a := range h.Addresses {
			switch {
			case !a.Verified || len(a.VerifiedChain) == 0:
				problems = append(problems, fmt.Sprintf("%s: %s (%s)", a.Address, a.Verdict, a.Reason))
			case a.VerifiedChain[0].Pin != want:
				problems = append(problems, fmt.Sprintf("%s serves key %s", a.Address, a.VerifiedChain[0].Pin))
			default:
				res.Addresses = append(res.Addresses, a.Address)
			}
		}
	}
	return res, problems
}
