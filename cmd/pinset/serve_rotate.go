package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"time"

	"pinset.dev/pinset/probe"
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
	if rc.Check.Resolve, err = probe.ParseResolve(c.Resolve); err != nil {
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
