package tlog

import (
	"errors"
	"fmt"
)

// Errors of the log layer; test with errors.Is. trust.State maps them to
// its own (ErrNotLogged, ErrLogCheckpoint, ErrLogInconsistent, ErrLogFork).
var (
	// ErrMalformed: a record, checkpoint, proof bundle or tile path does not
	// decode under the strict rules of docs/trust.md section 12.
	ErrMalformed = errors.New("malformed log data")
	// ErrSignature: a checkpoint is not signed by the log's key, or has
	// fewer valid witness cosignatures than the threshold.
	ErrSignature = errors.New("checkpoint signature")
	// ErrInclusion: an inclusion proof does not lead to the checkpoint's
	// root hash, or the record does not describe the document.
	ErrInclusion = errors.New("not included in the log")
	// ErrInconsistent: no consistency proof between two checkpoints, or
	// one that does not verify.
	ErrInconsistent = errors.New("checkpoints not shown consistent")
	// ErrFork: two checkpoints signed by the log for the same tree size
	// with different root hashes: the log showed two histories.
	ErrFork = errors.New("log fork: two checkpoints of one size with different root hashes")
	// ErrConflict: an add-checkpoint request's old size is not the size of
	// the last checkpoint the witness cosigned (C2SP tlog-witness 409).
	ErrConflict = errors.New("old size is not the witness's latest")
)

func malformed(what, format string, args ...any) error {
	return fmt.Errorf("%s: %s: %w", what, fmt.Sprintf(format, args...), ErrMalformed)
}
