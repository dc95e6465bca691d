package server

import (
	"errors"
	"fmt"
	"testing"

	"pinset.dev/pinset/store"
	"pinset.dev/pinset/trust"
)

// TestClassify: each typed error of trust and store gets its answer,
// wrapped or not; the first match decides when an error wraps two; any
// other error is a 422 "refused".
func TestClassify(t *testing.T) {
	for _, c := range []struct {
		err    error
		status int
		code   string
	}{
		{trust.ErrTooLarge, 413, "too_large"},
		{trust.ErrMalformed, 400, "malformed"},
		{trust.ErrPayloadType, 422, "wrong_payload_type"},
		{trust.ErrThreshold, 422, "threshold_not_met"},
		{trust.ErrAlgorithm, 422, "bad_algorithm"},
		{trust.ErrWrongApp, 422, "wrong_app"},
		{trust.ErrBelowFloor, 409, "rollback"},
		{trust.ErrRollback, 409, "rollback"},
		{trust.ErrEquivocation, 409, "equivocation"},
		{trust.ErrRootVersionGap, 409, "root_version_gap"},
		{trust.ErrRootMismatch, 422, "root_mismatch"},
		{trust.ErrExpired, 422, "expired"},
		{trust.ErrIssuedInFuture, 422, "issued_in_future"},
		{trust.ErrInvalidDocument, 422, "invalid_document"},
		{trust.ErrExpiresBeforeIssued, 422, "invalid_document"},
		{store.ErrConflict, 409, "conflict"},
		{store.ErrNotFound, 409, "no_root"},
		{errors.Join(trust.ErrMalformed, trust.ErrTooLarge), 413, "too_large"},
		{errors.New("something else"), 422, "refused"},
	} {
		pe := classify("manifest", fmt.Errorf("wrapped: %w", c.err))
		if pe.Status != c.status || pe.Code != c.code || !errors.Is(pe, c.err) {
			t.Errorf("%v: %d %s, want %d %s", c.err, pe.Status, pe.Code, c.status, c.code)
		}
	}
}
