// Package witness is a small transparency log witness (C2SP
// tlog-witness, docs/trust.md section 12 "Witnesses"): for each log it is
// configured with, it remembers the latest checkpoint it cosigned, and
// cosigns a new one only when the log proves it consistent with that one.
// A log that shows two histories (a fork) cannot get both cosigned, so a
// root that requires witness cosignatures makes a fork shown to one
// targeted client need the witnesses' collusion too.
//
// [Witness.AddCheckpoint] makes the decision; [Witness.ServeHTTP] answers
// POST /add-checkpoint with it. `pinset witness` runs one; the pin
// service's side (asking witnesses) is in package server.
package witness

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"sync"

	"golang.org/x/mod/sumdb/note"

	"pinset.dev/pinset/internal/atomicfile"
	"pinset.dev/pinset/tlog"
)

// Config is a witness's key, the logs it witnesses and where it keeps
// what it cosigned.
type Config struct {
	// Cosigner signs cosignatures (its clock stamps them).
	Cosigner *tlog.Cosigner
	// Logs are the note verifier keys of the logs witnessed (Ed25519); a
	// log is known by its key's name, which is its checkpoints' origin.
	Logs []string
	// State is the file that keeps the latest cosigned checkpoint of each
	// log (written atomically, mode 0600, before each answer). Empty:
	// memory only, for tests (a restarted witness would forget).
	State string
}

// Witness cosigns checkpoints consistent with the ones it cosigned
// before. It is safe for concurrent use: one request at a time checks and
// records (C2SP tlog-witness requires the two to be atomic).
type Witness struct {
	cfg  Config
	logs map[string]note.Verifier // origin -> the log's key

	mu     sync.Mutex
	latest map[string]tlog.Checkpoint // origin -> latest cosigned
}

// Errors of AddCheckpoint, each mapped to the C2SP tlog-witness status by
// Status. A conflict is a *ConflictError.
var (
	ErrUnknownLog   = errors.New("unknown log")                            // 404
	ErrNotSigned    = errors.New("checkpoint not signed by the log's key") // 403
	ErrBadRequest   = errors.New("malformed add-checkpoint request")       // 400
	ErrInconsistent = errors.New("consistency proof does not verify")      // 422
)

// ConflictError is the answer 409: the request's old size is not the
// latest cosigned size, or the log offers another root hash for it (a
// fork). Size is the latest cosigned size.
type ConflictError struct {
	Size int64
	Err  error
}

func (e *ConflictError) Error() string { return e.Err.Error() }
func (e *ConflictError) Unwrap() error { return e.Err }

// New returns a witness, reading its state file when there is one.
func New(cfg Config) (*Witness, error) {
	if cfg.Cosigner == nil {
		return nil, errors.New("witness: a cosigning key is required")
	}
	if len(cfg.Logs) == 0 {
		return nil, errors.New("witness: at least one log key is required")
	}
	w := &Witness{cfg: cfg, logs: map[string]note.Verifier{}, latest: map[string]tlog.Checkpoint{}}
	for i, k := range cfg.Logs {
		v, err := tlog.ParseLogKey(k)
		if err != nil {
			return nil, fmt.Errorf("witness: log key %d: %w", i+1, err)
		}
		if _, dup := w.logs[v.Name()]; dup {
			return nil, fmt.Errorf("witness: two keys for the log %s", v.Name())
		}
		w.logs[v.Name()] = v
	}
	if err := w.load(); err != nil {
		return nil, err
	}
	return w, nil
}

// AddCheckpoint is the witness's one decision: it cosigns the checkpoint
// of an add-checkpoint request body when
//
//  1. the body decodes (else ErrBadRequest);
//  2. the checkpoint's origin is a log it witnesses (else ErrUnknownLog),
//     signed by that log's key (else ErrNotSigned);
//  3. the old size is the size it last cosigned for that log (else a
//     *ConflictError with that size), the same size has the same root hash
//     (else a *ConflictError wrapping tlog.ErrFork: it refuses a fork),
//     and the consistency proof from the old size verifies (else
//     ErrInconsistent).
//
// It then records the checkpoint (in the state file before answering)
// and returns its cosignature lines.
func (w *Witness) AddCheckpoint(body []byte) ([]byte, error) {
	req, err := tlog.ParseAddCheckpoint(body)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadRequest, err)
	}
	c, err := w.open(req.Checkpoint)
	if err != nil {
		return nil, err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	prev := w.latest[c.Origin]
	if err := tlog.CheckWitnessConsistency(prev, c, req); err != nil {
		switch {
		case errors.Is(err, tlog.ErrConflict), errors.Is(err, tlog.ErrFork):
			return nil, &ConflictError{Size: prev.Size, Err: fmt.Errorf("log %s: %w", c.Origin, err)}
		case errors.Is(err, tlog.ErrInconsistent):
			return nil, fmt.Errorf("log %s: %w: %w", c.Origin, ErrInconsistent, err)
		default:
			return nil, fmt.Errorf("log %s: %w: %w", c.Origin, ErrBadRequest, err)
		}
	}
	sig, err := w.cfg.Cosigner.Cosign(c.Body())
	if err != nil {
		return nil, err
	}
	if prev != c {
		w.latest[c.Origin] = c
		if err := w.save(); err != nil {
			w.latest[c.Origin] = prev
			return nil, fmt.Errorf("witness state: %w", err)
		}
	}
	return sig, nil
}

// Latest returns the latest checkpoint cosigned for origin (Size 0: none).
func (w *Witness) Latest(origin string) tlog.Checkpoint {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.latest[origin]
}

// open verifies the checkpoint note under the key of the log its origin
// names.
func (w *Witness) open(signed []byte) (tlog.Checkpoint, error) {
	if len(signed) > tlog.MaxCheckpointSize {
		return tlog.Checkpoint{}, fmt.Errorf("%w: checkpoint over %d bytes", ErrBadRequest, tlog.MaxCheckpointSize)
	}
	var unv *note.UnverifiedNoteError
	if _, err := note.Open(signed, note.VerifierList()); !errors.As(err, &unv) {
		return tlog.Checkpoint{}, fmt.Errorf("%w: checkpoint is not a signed note: %v", ErrBadRequest, err)
	}
	origin, _, _ := bytes.Cut([]byte(unv.Note.Text), []byte("\n"))
	v, ok := w.logs[string(origin)]
	if !ok {
		return tlog.Checkpoint{}, fmt.Errorf("%w: %q", ErrUnknownLog, origin)
	}
	vs := &tlog.Verifiers{Log: v}
	c, err := vs.Open(signed)
	switch {
	case errors.Is(err, tlog.ErrMalformed):
		return c, fmt.Errorf("%w: %w", ErrBadRequest, err)
	case err != nil:
		return c, fmt.Errorf("%w: %w", ErrNotSigned, err)
	}
	return c, nil
}

// ServeHTTP answers POST /add-checkpoint (C2SP tlog-witness): 200 with the
// cosignature lines, 400, 403, 404, 409 (text/x.tlog.size: the latest
// cosigned size), 422; the body is capped at tlog.MaxAddCheckpointSize.
func (w *Witness) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/add-checkpoint" {
		http.Error(rw, "not found: the witness answers POST /add-checkpoint", http.StatusNotFound)
		return
	}
	if r.Method != http.MethodPost {
		rw.Header().Set("Allow", http.MethodPost)
		http.Error(rw, "use POST", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(rw, r.Body, tlog.MaxAddCheckpointSize))
	if err != nil {
		http.Error(rw, fmt.Sprintf("request body over %d bytes or unreadable", tlog.MaxAddCheckpointSize), http.StatusRequestEntityTooLarge)
		return
	}
	sig, err := w.AddCheckpoint(body)
	var conflict *ConflictError
	switch {
	case err == nil:
		rw.Header().Set("Content-Type", "text/plain; charset=utf-8")
		rw.Write(sig)
	case errors.As(err, &conflict):
		rw.Header().Set("Content-Type", tlog.SizeContentType)
		rw.WriteHeader(http.StatusConflict)
		fmt.Fprintf(rw, "%d\n", conflict.Size)
	default:
		http.Error(rw, err.Error(), Status(err))
	}
}

// Status is the HTTP status of an AddCheckpoint error.
func Status(err error) int {
	var conflict *ConflictError
	switch {
	case errors.As(err, &conflict):
		return http.StatusConflict
	case errors.Is(err, ErrUnknownLog):
		return http.StatusNotFound
	case errors.Is(err, ErrNotSigned):
		return http.StatusForbidden
	case errors.Is(err, ErrInconsistent):
		return http.StatusUnprocessableEntity
	case errors.Is(err, ErrBadRequest):
		return http.StatusBadRequest
	default:
		return http.StatusInternalServerError
	}
}

// stateFile is the witness's state on disk.
type stateFile struct {
	Format string              `json:"format"`
	Logs   map[string]stateLog `json:"logs"`
}

type stateLog struct {
	Size int64  `json:"size"`
	Hash string `json:"root_hash"` // base64
}

const (
	stateFormat = "pinset-witness-state-v1"
	maxState    = 1 << 20
)

func (w *Witness) load() error {
	if w.cfg.State == "" {
		return nil
	}
	b, err := os.ReadFile(w.cfg.State)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if len(b) > maxState {
		return fmt.Errorf("%s: over %d bytes", w.cfg.State, maxState)
	}
	var s stateFile
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(&s); err != nil || d.More() || s.Format != stateFormat {
		return fmt.Errorf("%s: not a witness state file of format %s (%v)", w.cfg.State, stateFormat, err)
	}
	for origin, l := range s.Logs {
		h, err := base64.StdEncoding.Strict().DecodeString(l.Hash)
		c := tlog.Checkpoint{Origin: origin, Size: l.Size}
		if err != nil || len(h) != len(c.Hash) || l.Size < 1 {
			return fmt.Errorf("%s: log %s: size %d, root hash %q: not a cosigned checkpoint", w.cfg.State, origin, l.Size, l.Hash)
		}
		copy(c.Hash[:], h)
		// A log no longer configured keeps its entry (it may come back);
		// it is not witnessed meanwhile.
		w.latest[origin] = c
	}
	return nil
}

func (w *Witness) save() error {
	if w.cfg.State == "" {
		return nil
	}
	s := stateFile{Format: stateFormat, Logs: map[string]stateLog{}}
	for origin, c := range w.latest {
		s.Logs[origin] = stateLog{Size: c.Size, Hash: base64.StdEncoding.EncodeToString(c.Hash[:])}
	}
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(w.cfg.State, append(b, '\n'), atomicfile.Options{Perm: 0o600})
}
