package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"pinset.dev/pinset/certs"
	"pinset.dev/pinset/check"
	"pinset.dev/pinset/deploy"
	"pinset.dev/pinset/policy"
	"pinset.dev/pinset/server"
	"pinset.dev/pinset/trust"
)

// adoptionConfig is the adoption section of the serve configuration.
type adoptionConfig struct {
	Window        string `yaml:"window"`         // default 7d
	FlushInterval string `yaml:"flush_interval"` // default 1s
	Off           bool   `yaml:"off"`
}

func (c *adoptionConfig) apply(sc *server.Config) error {
	if c == nil {
		return nil
	}
	var err error
	if sc.Adoption.Window, err = optDuration("adoption.window", c.Window, 0); err != nil {
		return err
	}
	if sc.Adoption.FlushInterval, err = optDuration("adoption.flush_interval", c.FlushInterval, 0); err != nil {
		return err
	}
	sc.Adoption.Off = c.Off
	return nil
}

// rotationConfig is the rotation section of the serve configuration.
type rotationConfig struct {
	// Deploy is the command (program and arguments, no shell) that makes
	// every address of a host serve a key; it gets PINSET_PLAN,
	// PINSET_APP, PINSET_HOST, PINSET_PIN and PINSET_ACTION (switch or
	// rollback) in its environment and must be idempotent.
	Deploy        []string `yaml:"deploy"`
	DeployTimeout string   `yaml:"deploy_timeout"` // default 10m
	// Key signs the manifests plans need (pins threshold 1); default:
	// resign.key.
	Key            string   `yaml:"key"`
	PassphraseFile string   `yaml:"passphrase_file"`
	Interval       string   `yaml:"interval"` // default 1m
	CAFile         string   `yaml:"cafile"`   // verification after the switch
	Resolve        []string `yaml:"resolve"`
	Port           int      `yaml:"port"`
	Timeout        string   `yaml:"timeout"`
	// Targets are hosts whose switch serve performs itself: the next key
	// from the key ring, its certificate over ACME, deploy.Deploy.
	Targets []targetConfig `yaml:"targets"`
}

// targetConfig is one entry of rotation.targets.
type targetConfig struct {
	Host     string     `yaml:"host"` // the plan's host pattern (a concrete name)
	Port     int        `yaml:"port"` // default rotation.port, else 443
	CertFile string     `yaml:"cert_file"`
	KeyFile  string     `yaml:"key_file"`
	Reload   []string   `yaml:"reload"`
	KeyRing  string     `yaml:"key_ring"`
	Domains  []string   `yaml:"domains"` // default [host]
	Settle   string     `yaml:"settle"`  // default 15s
	ACME     acmeConfig `yaml:"acme"`
}

// acmeConfig is a target's CA.
type acmeConfig struct {
	Directory    string `yaml:"directory"`
	CAFile       string `yaml:"ca_file"`
	AccountKey   string `yaml:"account_key"`
	AgreeTOS     bool   `yaml:"agree_tos"`
	HTTP01Listen string `yaml:"http01_listen"`
	DNS01Hook    string `yaml:"dns01_hook"`
	Profile      string `yaml:"profile"`
	Timeout      string `yaml:"timeout"` // default 5m
}

func (c *targetConfig) target(rc *server.RotationConfig) (server.RotationTarget, error) {
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
	acct, _, err := certs.LoadAccountKey(c.ACME.AccountKey, trustRand)
	if err != nil {
		return server.RotationTarget{}, fmt.Errorf("%s: %w", name, err)
	}
	hc, err := certHTTPClient(c.ACME.CAFile)
	if err != nil {
		return server.RotationTarget{}, fmt.Errorf("%s: %w", name, err)
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
			Profile: c.ACME.Profile, Timeout: timeout, Rand: trustRand},
	}
	if c.ACME.DNS01Hook != "" {
		t.ACME.Solver = &certs.DNS01Hook{Command: strings.Fields(c.ACME.DNS01Hook)}
	}
	return t, nil
}

// maxDeployOutput caps the deploy command's output kept for the error.
const maxDeployOutput = 4096

func (c *rotationConfig) apply(sc *server.Config) error {
	if c == nil {
		return nil
	}
	rc := &sc.Rotation
	var err error
	if rc.Interval, err = optDuration("rotation.interval", c.Interval, 0); err != nil {
		return err
	}
	if c.Key != "" {
		kb, err := os.ReadFile(c.Key)
		if err != nil {
			return err
		}
		var pass []byte
		if c.PassphraseFile != "" {
			if pass, err = os.ReadFile(c.PassphraseFile); err != nil {
				return err
			}
			pass = bytes.TrimRight(pass, "\r\n")
		}
		if rc.Signer, err = trust.ParsePrivateKeyPEM(kb, pass); err != nil {
			return fmt.Errorf("rotation.key %s: %v", c.Key, err)
		}
	}
	if rc.Check.Timeout, err = optDuration("rotation.timeout", c.Timeout, 0); err != nil {
		return err
	}
	if rc.Check.Resolve, err = check.ParseResolve(c.Resolve); err != nil {
		return fmt.Errorf("rotation.resolve: %v", err)
	}
	if c.Port < 0 || c.Port > 65535 {
		return fmt.Errorf("rotation.port %d: not a port number", c.Port)
	}
	rc.Check.DefaultPort = c.Port
	if c.CAFile != "" {
		if rc.Check.RootCAs, err = loadCAs("rotation.cafile", c.CAFile); err != nil {
			return err
		}
	}
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
	if len(c.Deploy) > 0 {
		timeout, err := optDuration("rotation.deploy_timeout", c.DeployTimeout, 10*time.Minute)
		if err != nil {
			return err
		}
		argv := append([]string(nil), c.Deploy...)
		rc.Deploy = func(ctx context.Context, d server.DeployRequest) error {
			ctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
			cmd.Env = append(os.Environ(), "PINSET_PLAN="+strconv.FormatInt(d.PlanID, 10), "PINSET_APP="+d.App,
				"PINSET_HOST="+d.Host, "PINSET_PIN="+d.Pin.String(), "PINSET_ACTION="+d.Action)
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			if err := cmd.Run(); err != nil {
				msg := out.Bytes()
				if len(msg) > maxDeployOutput {
					msg = msg[len(msg)-maxDeployOutput:]
				}
				return fmt.Errorf("deploy command %s: %v: %s", argv[0], err, bytes.TrimSpace(msg))
			}
			return nil
		}
	} else if c.DeployTimeout != "" {
		return errors.New("rotation.deploy_timeout without rotation.deploy")
	}
	return nil
}
