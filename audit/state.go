package audit

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"pinset.dev/pinset/internal/atomicfile"
	"pinset.dev/pinset/internal/input"
	"pinset.dev/pinset/tlog"
)

// state is what one run leaves for the next, in DIR/APP.json.
type state struct {
	Format string `json:"format"`
	Root1  string `json:"root1_sha256"` // hex SHA-256 of root v1, trusted on first use
	Origin string `json:"origin"`
	Size   int64  `json:"size"`
	Hash   string `json:"root_hash"` // base64
	Note   string `json:"checkpoint"`

	hash tlog.Hash
}

const stateFormat = "pinset-audit-state-v1"

// maxState bounds the state file.
const maxState = 64 << 10

func statePath(dir, app string) string { return filepath.Join(dir, app+".json") }

// loadState reads the last run's state: nil when there is none.
func loadState(dir, app string) (*state, error) {
	if dir == "" {
		return nil, nil
	}
	name := statePath(dir, app)
	b, err := input.ReadFile(name, maxState)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var s state
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(&s); err != nil || d.More() {
		return nil, fmt.Errorf("%s: not an audit state file (%v): move it away to start afresh", name, err)
	}
	h, err := base64.StdEncoding.Strict().DecodeString(s.Hash)
	if s.Format != stateFormat || err != nil || len(h) != len(s.hash) || s.Size < 1 {
		return nil, fmt.Errorf("%s: not an audit state file of format %s: move it away to start afresh", name, stateFormat)
	}
	copy(s.hash[:], h)
	return &s, nil
}

// saveState writes the state atomically (temporary file, fsync, rename).
func saveState(dir, app string, s *state) error {
	s.Format, s.Hash = stateFormat, base64.StdEncoding.EncodeToString(s.hash[:])
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	return atomicfile.WriteFile(statePath(dir, app), append(b, '\n'), atomicfile.Options{Perm: 0o600})
}
