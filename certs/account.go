package certs

import (
	"crypto"
	"errors"
	"fmt"
	"io"
	"os"

	"pinset.dev/pinset/keyring"
)

// LoadAccountKey reads the ACME account key in name, or, when there is no
// such file, makes a P-256 key and writes it there with mode 0600
// (created is then true). An existing key readable by group or others is
// refused: whoever reads it can act as the account (revoke its
// certificates, order new ones for its authorized names).
func LoadAccountKey(name string, rnd io.Reader) (key crypto.Signer, created bool, err error) {
	fi, err := os.Stat(name)
	switch {
	case errors.Is(err, os.ErrNotExist):
		k, err := keyring.Generate(keyring.P256, rnd)
		if err != nil {
			return nil, false, err
		}
		b, err := keyring.MarshalPEM(k)
		if err != nil {
			return nil, false, err
		}
		if err := keyring.WriteNew(name, b); err != nil {
			return nil, false, fmt.Errorf("writing the ACME account key: %w", err)
		}
		return k, true, nil
	case err != nil:
		return nil, false, err
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, false, &ModeError{Name: name, Mode: perm}
	}
	k, err := keyring.ReadFile(name)
	if err != nil {
		return nil, false, err
	}
	return k, false, nil
}

// ModeError is returned for a private key file that others may read.
type ModeError struct {
	Name string
	Mode os.FileMode
}

func (e *ModeError) Error() string {
	return fmt.Sprintf("%s: mode %04o lets others read the ACME account key; chmod 600 %s", e.Name, e.Mode, e.Name)
}
