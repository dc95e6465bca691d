package serveconfig

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"pinset.dev/pinset/audit"
	"pinset.dev/pinset/certs"
	"pinset.dev/pinset/deploy"
	"pinset.dev/pinset/internal/input"
	"pinset.dev/pinset/internal/redact"
	"pinset.dev/pinset/monitor"
	"pinset.dev/pinset/policy"
	"pinset.dev/pinset/renew"
	"pinset.dev/pinset/server"
	"pinset.dev/pinset/tlog"
)

// Target is one entry of rotation.targets: a host whose switch serve
// performs itself (the next key from the key ring, its certificate over
// ACME, deploy.Deploy).
type Target struct {
	Host     string   `yaml:"host"` // the plan's host pattern (a concrete name)
	Port     int      `yaml:"port"` // default rotation.port, else 443
	CertFile string   `yaml:"cert_file"`
	KeyFile  string   `yaml:"key_file"`
	Reload   []string `yaml:"reload"`
	KeyRing  string   `yaml:"key_ring"`
	Domains  []string `yaml:"domains"` // default [host]
	Settle   string   `yaml:"settle"`  // default 15s
	ACME     ACME     `yaml:"acme"`
}

// ACME is a target's CA.
type ACME struct {
	Directory    string `yaml:"directory"`
	CAFile       string `yaml:"ca_file"`
	AccountKey   string `yaml:"account_key"`
	AgreeTOS     bool   `yaml:"agree_tos"`
	HTTP01Listen string `yaml:"http01_listen"`
	DNS01Hook    string `yaml:"dns01_hook"`
	Profile      string `yaml:"profile"`
	Timeout      string `yaml:"timeout"` // default 5m
}

// applyTargets adds rotation.targets to rc (after the rotation section's
// roots, resolve and port are set); a host is listed once.
func (c *Rotation) applyTargets(rc *server.RotationConfig) error {
	for i := range c.Targets {
		t, err := c.Targets[i].target(rc)
		if err != nil {
			return err
		}
		for _, o := range rc.Targets {
			if o.Host == t.Host {
				return fmt.Errorf("rotation.targets: host %s is listed twice", t.Host)
			}
		}
		rc.Targets = append(rc.Targets, t)
	}
	return nil
}

func (c *Target) target(rc *server.RotationConfig) (server.RotationTarget, error) {
	name := "rotation.targets[" + c.Host + "]"
	if c.Host == "" || c.CertFile == "" || c.KeyFile == "" || len(c.Reload) == 0 || c.KeyRing == "" || c.ACME.Directory == "" || c.ACME.AccountKey == "" {
		return server.RotationTarget{}, fmt.Errorf("%s: host, cert_file, key_file, reload, key_ring, acme.directory and acme.account_key are required", name)
	}
	if h, err := policy.NormalizeHost(c.Host); err != nil || h != c.Host || strings.Contains(h, "*") {
		return server.RotationTarget{}, fmt.Errorf("%s: host must be a concrete name as written in the manifest (lower case, no port, no wildcard)", name)
	}
	if (c.ACME.HTTP01Listen == "") == (c.ACME.DNS01Hook == "") {
		return server.RotationTarget{}, fmt.Errorf("%s: choose one challenge: acme.http01_listen or acme.dns01_hook", name)
	}
	settle, err := optDuration(name+".settle", c.Settle, 0)
	if err != nil {
		return server.RotationTarget{}, err
	}
	timeout, err := optDuration(name+".acme.timeout", c.ACME.Timeout, 0)
	if err != nil {
		return server.RotationTarget{}, err
	}
	acct, _, err := certs.LoadAccountKey(c.ACME.AccountKey, rand.Reader)
	if err != nil {
		return server.RotationTarget{}, fmt.Errorf("%s: %w", name, err)
	}
	hc, err := acmeHTTPClient(name+".acme.ca_file", c.ACME.CAFile)
	if err != nil {
		return server.RotationTarget{}, err
	}
	port := c.Port
	if port == 0 {
		port = rc.Check.DefaultPort
	}
	t := server.RotationTarget{
		Host: c.Host, KeyRing: c.KeyRing, Domains: c.Domains, HTTP01Listen: c.ACME.HTTP01Listen,
		Deploy: deploy.Target{Port: port, CertFile: c.CertFile, KeyFile: c.KeyFile, Reload: c.Reload,
			RootCAs: rc.Check.RootCAs, Resolve: rc.Check.Resolve, Settle: settle},
		ACME: certs.Options{DirectoryURL: c.ACME.Directory, HTTPClient: hc, AccountKey: acct, AgreeTerms: c.ACME.AgreeTOS,
			Profile: c.ACME.Profile, Timeout: timeout, Rand: rand.Reader},
	}
	if c.ACME.DNS01Hook != "" {
		t.ACME.Solver = &certs.DNS01Hook{Command: strings.Fields(c.ACME.DNS01Hook)}
	}
	return t, nil
}

// ACMESchedule is rotation.acme_schedule: the ACME schedule of the
// rotation targets, run by serve (package renew; docs/rotation.md).
type ACMESchedule struct {
	Enabled      *bool  `yaml:"enabled"`       // default true
	Interval     string `yaml:"interval"`      // default 1m
	FailingAfter int    `yaml:"failing_after"` // failures in a row before PinsetACMEFailing; default 3
	RetryMin     string `yaml:"retry_min"`     // first backoff after a failure; default 1m
	RetryMax     string `yaml:"retry_max"`     // longest backoff; default 6h
	OverdueAfter string `yaml:"overdue_after"` // PinsetRenewalOverdue this long past the renewal time; default 1h
}

// apply builds the schedule of rc's targets.
func (c *ACMESchedule) apply(logger *slog.Logger, rc *server.RotationConfig) error {
	if c == nil || (c.Enabled != nil && !*c.Enabled) {
		return nil
	}
	if len(rc.Targets) == 0 {
		return errors.New("rotation.acme_schedule: no rotation.targets to renew")
	}
	if c.FailingAfter < 0 {
		return fmt.Errorf("rotation.acme_schedule.failing_after %d: at least 1", c.FailingAfter)
	}
	cfg := renew.Config{Targets: rc.Targets, Logger: logger, FailingAfter: c.FailingAfter}
	for _, d := range []struct {
		name, value string
		to          *time.Duration
	}{
		{"interval", c.Interval, &cfg.Interval},
		{"retry_min", c.RetryMin, &cfg.RetryMin},
		{"retry_max", c.RetryMax, &cfg.RetryMax},
		{"overdue_after", c.OverdueAfter, &cfg.OverdueAfter},
	} {
		v, err := optDuration("rotation.acme_schedule."+d.name, d.value, 0)
		if err != nil {
			return err
		}
		if v < 0 {
			return fmt.Errorf("rotation.acme_schedule.%s %s: not a duration", d.name, d.value)
		}
		*d.to = v
	}
	if cfg.RetryMin > 0 && cfg.RetryMax > 0 && cfg.RetryMax < cfg.RetryMin {
		return errors.New("rotation.acme_schedule: retry_max is shorter than retry_min")
	}
	sch, err := renew.New(cfg)
	if err != nil {
		return fmt.Errorf("rotation.acme_schedule: %w", err)
	}
	rc.Schedule = sch
	return nil
}

// acmeHTTPClient trusts the system roots plus caFile (the ACME directory's
// and the transparency log witnesses' HTTPS clients).
func acmeHTTPClient(setting, caFile string) (*http.Client, error) {
	if caFile == "" {
		return &http.Client{Timeout: time.Minute}, nil
	}
	pool, err := input.LoadCAs(setting, caFile)
	if err != nil {
		return nil, err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool}
	return &http.Client{Timeout: time.Minute, Transport: tr}, nil
}

// TransparencyLog is serve's transparency_log section.
type TransparencyLog struct {
	Key            string `yaml:"key"`             // Ed25519 PKCS#8 PEM file, 0600
	PassphraseFile string `yaml:"passphrase_file"` // for an encrypted key
	Name           string `yaml:"name"`            // origin prefix: the log of APP is NAME/APP
	// Audit, when set, makes the monitor audit every app's log each round
	// (PinsetTransparencyLogProblem).
	Audit *LogAudit `yaml:"audit"`
	// Witnesses are asked to cosign each new checkpoint (C2SP
	// tlog-witness); roots list their keys in log.witnesses.
	Witnesses []LogWitness `yaml:"witnesses"`
	// WitnessTimeout bounds each witness request (default 5s).
	WitnessTimeout string `yaml:"witness_timeout"`
	// WitnessCA is a PEM file of CAs for the witnesses' HTTPS
	// certificates (default: the system's).
	WitnessCA string `yaml:"witness_ca"`
}

// LogWitness is one entry of transparency_log.witnesses.
type LogWitness struct {
	URL string `yaml:"url"` // submission prefix: URL/add-checkpoint
	Key string `yaml:"key"` // verifier key (cosignature/v1 or Ed25519 note key)
}

// LogAudit is transparency_log.audit: where the monitor audits the logs
// from (the public URL, a CDN or a mirror: what clients see).
type LogAudit struct {
	Server     string `yaml:"server"`      // base URL
	State      string `yaml:"state"`       // directory for the last checkpoints
	ExpectKeys string `yaml:"expect_keys"` // file of key ids (optional)
}

// Load reads the log's key and checks its name.
func (c *TransparencyLog) Load() (*server.LogConfig, error) {
	if c.Key == "" || c.Name == "" {
		return nil, errors.New("transparency_log: key and name are required")
	}
	var pass []byte
	if c.PassphraseFile != "" {
		b, err := input.Read(c.PassphraseFile, 4096)
		if err != nil {
			return nil, fmt.Errorf("transparency_log.passphrase_file: %v", err)
		}
		pass = bytes.TrimRight(b, "\r\n")
	}
	k, err := server.ReadLogKey(c.Key, pass)
	if err != nil {
		return nil, fmt.Errorf("transparency_log.key: %v", err)
	}
	lc := &server.LogConfig{Key: k, Name: c.Name}
	if _, err := lc.LogVerifierKey("app"); err != nil {
		return nil, fmt.Errorf("transparency_log.name: %v", err)
	}
	if err := c.loadWitnesses(lc); err != nil {
		return nil, err
	}
	return lc, nil
}

// loadWitnesses checks transparency_log.witnesses: each an http(s) URL
// (plain http only to a loopback address) and a witness key, none twice.
func (c *TransparencyLog) loadWitnesses(lc *server.LogConfig) error {
	timeout, err := optDuration("transparency_log.witness_timeout", c.WitnessTimeout, server.DefaultWitnessTimeout)
	if err != nil {
		return err
	}
	if timeout <= 0 {
		return errors.New("transparency_log.witness_timeout: must be positive")
	}
	for i, w := range c.Witnesses {
		u, err := url.Parse(w.URL)
		if err != nil || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" ||
			!(u.Scheme == "https" || u.Scheme == "http" && isLoopback(u.Hostname())) {
			return fmt.Errorf("transparency_log.witnesses[%d].url %s: an https URL (plain http to loopback only), without user, query or fragment", i, redact.URL(w.URL))
		}
		if _, err := tlog.ParseWitnessKey(w.Key); err != nil {
			return fmt.Errorf("transparency_log.witnesses[%d].key: %v", i, err)
		}
		lc.Witnesses = append(lc.Witnesses, server.LogWitness{URL: w.URL, Key: w.Key})
	}
	if len(c.Witnesses) > tlog.MaxWitnesses {
		return fmt.Errorf("transparency_log.witnesses: %d, at most %d", len(c.Witnesses), tlog.MaxWitnesses)
	}
	if len(c.Witnesses) == 0 {
		if c.WitnessCA != "" || c.WitnessTimeout != "" {
			return errors.New("transparency_log.witness_ca and witness_timeout need transparency_log.witnesses")
		}
		return nil
	}
	hc, err := acmeHTTPClient("transparency_log.witness_ca", c.WitnessCA)
	if err != nil {
		return err
	}
	lc.WitnessClient, lc.WitnessTimeout = hc, timeout
	return nil
}

func isLoopback(host string) bool {
	ip := net.ParseIP(host)
	return host == "localhost" || ip != nil && ip.IsLoopback()
}

// apply gives the server its log key when the section is set.
func (c *TransparencyLog) apply(sc *server.Config) error {
	if c == nil {
		return nil
	}
	lc, err := c.Load()
	if err != nil {
		return err
	}
	sc.Log = lc
	return nil
}

// logAudit returns the monitor's log audit, or nil.
func (c *TransparencyLog) logAudit() (monitor.LogAuditFunc, error) {
	if c == nil || c.Audit == nil {
		return nil, nil
	}
	a := c.Audit
	u, err := url.Parse(a.Server)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("transparency_log.audit.server %s: not an http(s) URL", redact.URL(a.Server))
	}
	if a.State == "" {
		return nil, errors.New("transparency_log.audit.state: a directory is required (the audit compares each round with the last)")
	}
	var keys []string
	if a.ExpectKeys != "" {
		if keys, err = ReadExpectKeys(a.ExpectKeys); err != nil {
			return nil, fmt.Errorf("transparency_log.audit.expect_keys: %v", err)
		}
	}
	return func(ctx context.Context, app string) (*audit.Report, error) {
		return audit.Run(ctx, audit.Config{Server: u, App: app, StateDir: a.State, ExpectKeys: keys})
	}, nil
}

// ReadExpectKeys reads key ids, one per line; # starts a comment.
func ReadExpectKeys(path string) ([]string, error) {
	b, err := input.Read(path, 1<<20)
	if err != nil {
		return nil, err
	}
	ids := []string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line, _, _ := strings.Cut(sc.Text(), "#")
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if len(line) != 64 || strings.Trim(line, "0123456789abcdef") != "" {
			return nil, fmt.Errorf("%s:%d: %q is not a key id (64 lower-case hex digits; pinset pin KEY.pub --format hex)", path, n, line)
		}
		ids = append(ids, line)
	}
	return ids, sc.Err()
}

// Console is the console section of the serve configuration.
type Console struct {
	Enabled         *bool  `yaml:"enabled"`          // default true
	SessionLifetime string `yaml:"session_lifetime"` // default 8h
}

// ConsoleSettings is the web console's validated configuration.
type ConsoleSettings struct {
	SessionLifetime time.Duration // 0: the console's default
}

// settings validates the section; nil when the console is off. No
// section means the defaults.
func (c *Console) settings() (*ConsoleSettings, error) {
	if c == nil {
		c = &Console{}
	}
	if c.Enabled != nil && !*c.Enabled {
		return nil, nil
	}
	life, err := optDuration("console.session_lifetime", c.SessionLifetime, 0)
	if err != nil {
		return nil, err
	}
	return &ConsoleSettings{SessionLifetime: life}, nil
}
