package server

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"pinset.dev/pinset/deploy"
	"pinset.dev/pinset/internal/atomicfile"
	"pinset.dev/pinset/keyring"
	"pinset.dev/pinset/pin"
	"pinset.dev/pinset/renew"
)

// A rotation target is a host whose switch the service performs itself
// (docs/rotation.md, "Deploy targets"): the next key comes from the host's
// key ring, its certificate is the one the ACME schedule (package renew)
// kept in the ring ahead of the switch, or else comes from the CA, and
// deploy.Deploy writes both, reloads the server and verifies that every
// address serves the next key, restoring the previous files on a
// mismatch. The files the switch replaced are kept in the ring so that an
// abort can put the old key back the same way.

// RotationTarget configures the switch of one host: its key ring, CA and
// deploy target (package renew, whose scheduler renews the same hosts'
// certificates).
type RotationTarget = renew.Target

// Names of the files the switch keeps in the ring's host directory: the
// chain and key that were on the server before the switch, for the
// rollback after an abort.
const (
	keptChain = "rollback-%s.chain.pem"
	keptKey   = "rollback-%s.key"
)

func (s *Server) rotationTarget(host string) *RotationTarget {
	for i := range s.cfg.Rotation.Targets {
		if s.cfg.Rotation.Targets[i].Host == host {
			return &s.cfg.Rotation.Targets[i]
		}
	}
	return nil
}

// canDeploy: the switch of host is performed by the service (a target or
// the deploy hook), not confirmed by an operator.
func (s *Server) canDeploy(host string) bool {
	return s.rotationTarget(host) != nil || s.cfg.Rotation.Deploy != nil
}

// deployPin makes every address of the plan's host serve d.Pin: through
// the host's target when there is one, else the deploy hook.
func (s *Server) deployPin(ctx context.Context, d DeployRequest, old pin.Pin) error {
	tg := s.rotationTarget(d.Host)
	if tg == nil {
		return s.cfg.Rotation.Deploy(ctx, d)
	}
	defer tg.Lock()() // no renewal of the ACME schedule lands meanwhile
	if d.Action == "rollback" {
		return s.targetRollback(ctx, tg, d.Pin)
	}
	return s.targetSwitch(ctx, tg, d.Pin, old)
}

// targetSwitch: the next key from the ring, its certificate (the one the
// ACME schedule kept in the ring ahead of the switch, else a new one from
// the CA), the server's current files kept for a rollback, then
// deploy.Deploy.
func (s *Server) targetSwitch(ctx context.Context, tg *RotationTarget, next, old pin.Pin) error {
	ring, err := keyring.Open(tg.KeyRing, tg.Host)
	if err != nil {
		return fmt.Errorf("the key ring of %s: %w", tg.Host, err)
	}
	// Ring.Key refuses a file that holds another key than its name says:
	// no certificate is asked for, nothing is written, the plan waits.
	key, err := ring.Key(next)
	if err != nil {
		return fmt.Errorf("the next key: %w", err)
	}
	keyPEM, err := keyring.MarshalPEM(key)
	if err != nil {
		return err
	}
	_, chainPEM, err := tg.StoredChain(ring, next, s.now())
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			s.log.Warn("rotation switch: the next key's kept certificate is not usable; asking the CA", "host", tg.Host, "pin", next.String(), "err", err)
		}
		res, err := tg.Issue(ctx, key)
		if err != nil {
			return fmt.Errorf("ACME certificate for %s: %w", next, err)
		}
		chainPEM = res.ChainPEM()
		if err := ring.SaveChain(next, chainPEM); err != nil {
			return err
		}
	}
	t := tg.DeployTarget(s.now)
	if err := keepCurrent(t, ring.Dir(), old); err != nil {
		return err
	}
	// The pin wanted is the plan's: whatever else ends up served (a
	// reload that picks up other files) is caught by the verification
	// and rolled back.
	if _, err := deploy.Deploy(ctx, t, chainPEM, keyPEM, next); err != nil {
		return err
	}
	return nil
}

// keepCurrent copies the server's chain and key into the ring as the old
// key's rollback files, when the chain on the server is the old key's (a
// retried switch finds the next key's files there and keeps the copy it
// made the first time).
func keepCurrent(t deploy.Target, dir string, old pin.Pin) error {
	chain, err := os.ReadFile(t.CertFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if p, err := keyring.ChainPin(chain); err != nil || p != old {
		return nil
	}
	key, err := os.ReadFile(t.KeyFile)
	if err != nil {
		return fmt.Errorf("keeping the old key's files: %w", err)
	}
	hex := old.Format(pin.Hex)
	if err := atomicfile.WriteFile(filepath.Join(dir, fmt.Sprintf(keptKey, hex)), key, atomicfile.Options{Perm: 0o600}); err != nil {
		return fmt.Errorf("keeping the old key's files: %w", err)
	}
	if err := atomicfile.WriteFile(filepath.Join(dir, fmt.Sprintf(keptChain, hex)), chain, atomicfile.Options{Perm: 0o600}); err != nil {
		return fmt.Errorf("keeping the old key's files: %w", err)
	}
	return nil
}

// targetRollback deploys the old key's kept files back.
func (s *Server) targetRollback(ctx context.Context, tg *RotationTarget, old pin.Pin) error {
	dir, err := tg.HostDir()
	if err != nil {
		return err
	}
	hex := old.Format(pin.Hex)
	t := tg.DeployTarget(s.now)
	chain, err := os.ReadFile(filepath.Join(dir, fmt.Sprintf(keptChain, hex)))
	if errors.Is(err, fs.ErrNotExist) {
		// The switch kept nothing: it failed before it wrote (a damaged
		// ring, a CA refusal) or deploy.Deploy restored the old files. The
		// rollback is done when every address serves the old key.
		_, problems, err := deploy.Verify(ctx, t, old)
		if err != nil {
			return err
		}
		if len(problems) > 0 {
			return fmt.Errorf("no files of the old key %s were kept by the switch, and %s", old, strings.Join(problems, "; "))
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("the old key's kept chain (from the switch): %w", err)
	}
	key, err := os.ReadFile(filepath.Join(dir, fmt.Sprintf(keptKey, hex)))
	if err != nil {
		return fmt.Errorf("the old key's kept key (from the switch): %w", err)
	}
	_, err = deploy.Deploy(ctx, t, chain, key, old)
	return err
}
