package client

import (
	"encoding/base64"
	"fmt"
	"strconv"

	"pinset.dev/pinset/tlog"
	"pinset.dev/pinset/trust"
)

// The transparency log on the client (docs/trust.md section 12). When the
// trusted root names a log, the pin service sends a proof bundle with the
// manifest, in the Pinset-Log-Proof response header, so no extra request
// is needed; the client tells the service the tree size of the newest
// checkpoint it holds (Pinset-Log-Size) so that the bundle carries a
// consistency proof from it. trust.State decides; the client only carries
// the bytes, and keeps the checkpoint and the proof in its cache.

// Header names, as the service uses them (server.HeaderLogSize,
// server.HeaderLogProof).
const (
	headerLogSize  = "Pinset-Log-Size"
	headerLogProof = "Pinset-Log-Proof"
)

// maxProofHeader bounds the Pinset-Log-Proof header (base64 of a bundle).
const maxProofHeader = (tlog.MaxBundleSize + 2) / 3 * 4

// logSizeHeader returns the request header that names the tree size of
// the newest checkpoint s holds, or nothing.
func logSizeHeader(s *snapshot) []string {
	if s.logSize == 0 {
		return nil
	}
	return []string{headerLogSize, strconv.FormatInt(s.logSize, 10)}
}

// decodeProof decodes a Pinset-Log-Proof value. An absent header is nil
// (the verifier then says whether the root needed one); a bad one is an
// error only when the root names a log.
func decodeProof(v string, ts *trust.State) ([]byte, error) {
	if v == "" || ts.Root().Log == nil {
		return nil, nil
	}
	if len(v) > maxProofHeader {
		return nil, &trustError{fmt.Errorf("%s header of %d bytes, over the cap of %d: %w", headerLogProof, len(v), maxProofHeader, trust.ErrNotLogged)}
	}
	b, err := base64.StdEncoding.Strict().DecodeString(v)
	if err != nil {
		return nil, &trustError{fmt.Errorf("%s header is not standard base64: %w", headerLogProof, trust.ErrNotLogged)}
	}
	return b, nil
}

// checkpointSize reads the tree size of a checkpoint the state verified.
func checkpointSize(note []byte) int64 {
	if len(note) == 0 {
		return 0
	}
	// The note's first two lines are the origin and the size; the state
	// verified the note, so the parse cannot fail on what it holds.
	body := note
	for i, n := 0, 0; i < len(note); i++ {
		if note[i] == '\n' {
			if n++; n == 3 {
				body = note[:i+1]
				break
			}
		}
	}
	c, err := tlog.ParseCheckpoint(body)
	if err != nil {
		return 0
	}
	return c.Size
}
