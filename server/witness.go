package server

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/mod/sumdb/note"

	"pinset.dev/pinset/internal/redact"
	"pinset.dev/pinset/tlog"
)

// LogWitness is a witness the service asks to cosign each new checkpoint
// (C2SP tlog-witness add-checkpoint; docs/trust.md section 12,
// "Witnesses"). Roots list the same Key in log.witnesses.
type LogWitness struct {
	// URL is the witness's submission prefix: the service POSTs to
	// URL + "/add-checkpoint".
	URL string
	// Key is the witness's verifier key (cosignature/v1 or Ed25519 note
	// key); only its valid cosignatures are kept.
	Key string
}

// DefaultWitnessTimeout bounds one add-checkpoint exchange.
const DefaultWitnessTimeout = 5 * time.Second

// witnessClient asks one witness, remembering per log the tree size it
// last cosigned (so that the request carries the right consistency proof).
type witnessClient struct {
	name string // the key's name, for logs and metrics
	url  string
	v    note.Verifier

	mu    sync.Mutex
	sizes map[string]int64 // origin -> size last cosigned
}

func newWitnessClients(ws []LogWitness) ([]*witnessClient, error) {
	var out []*witnessClient
	seen := map[string]bool{}
	for i, w := range ws {
		v, err := tlog.ParseWitnessKey(w.Key)
		if err != nil {
			return nil, fmt.Errorf("transparency log witness %d: %w", i+1, err)
		}
		if seen[w.Key] {
			return nil, fmt.Errorf("transparency log witness %d (%s) listed twice", i+1, v.Name())
		}
		seen[w.Key] = true
		out = append(out, &witnessClient{name: v.Name(), url: strings.TrimSuffix(w.URL, "/") + "/add-checkpoint", v: v, sizes: map[string]int64{}})
	}
	return out, nil
}

// cosign asks every witness that has not cosigned signed (the checkpoint
// c, as a signed note) yet, in parallel, and returns the note with the
// valid cosignatures added and how many witnesses cosigned it in all. A
// witness that fails is logged and counted (pinset_log_witness_requests_total),
// never silently: the checkpoint is served with what was collected, and
// clients whose root requires more cosignatures refuse it and say so.
func (l *logService) cosign(ctx context.Context, app string, c tlog.Checkpoint, signed []byte, done map[string]bool) ([]byte, map[string]bool) {
	lines := make([][]byte, len(l.witnesses))
	var wg sync.WaitGroup
	for i, w := range l.witnesses {
		if done[w.name] {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			b, err := l.askWitness(ctx, w, app, c, signed)
			if err != nil {
				l.witnessResult(w.name, "error")
				l.logger.Warn("a transparency log witness did not cosign the checkpoint", "app", app, "witness", w.name, "size", c.Size, "err", err)
				return
			}
			lines[i] = b
		}()
	}
	wg.Wait()
	out := map[string]bool{}
	for k := range done {
		out[k] = true
	}
	for i, w := range l.witnesses {
		if lines[i] == nil {
			continue
		}
		next, n, err := tlog.AddCosignatures(signed, lines[i], w.v)
		if err != nil || n == 0 && !out[w.name] {
			l.witnessResult(w.name, "invalid")
			l.logger.Warn("a transparency log witness answered without a valid cosignature", "app", app, "witness", w.name, "size", c.Size, "err", err)
			continue
		}
		l.witnessResult(w.name, "cosigned")
		signed, out[w.name] = next, true
	}
	if len(out) < len(l.witnesses) {
		l.logger.Warn("checkpoint served with fewer witness cosignatures than witnesses configured", "app", app, "size", c.Size, "cosigned", len(out), "witnesses", len(l.witnesses))
	}
	return signed, out
}

// askWitness sends one add-checkpoint request, and once more from the
// size the witness answers with when it holds another one (409).
func (l *logService) askWitness(ctx context.Context, w *witnessClient, app string, c tlog.Checkpoint, signed []byte) ([]byte, error) {
	w.mu.Lock()
	old := w.sizes[c.Origin]
	w.mu.Unlock()
	for attempt := 0; ; attempt++ {
		if old > c.Size {
			return nil, fmt.Errorf("the witness cosigned a tree of size %d, larger than this service's %d (another log under this origin, or a store restored from backup)", old, c.Size)
		}
		proof, err := tlog.ProveConsistency(l.hashes(ctx, app), c.Size, old)
		if err != nil {
			return nil, fmt.Errorf("consistency proof from %d to %d: %w", old, c.Size, err)
		}
		body := (&tlog.AddCheckpoint{OldSize: old, Proof: proof, Checkpoint: signed}).Marshal()
		status, ctype, resp, err := l.postWitness(ctx, w.url, body)
		if err != nil {
			return nil, err
		}
		switch {
		case status == http.StatusOK:
			w.mu.Lock()
			w.sizes[c.Origin] = c.Size
			w.mu.Unlock()
			return resp, nil
		case status == http.StatusConflict && ctype == tlog.SizeContentType && attempt == 0:
			n, err := tlog.ParseSizeLine(resp)
			if err != nil {
				return nil, fmt.Errorf("409 from the witness: %w", err)
			}
			if n == old {
				return nil, fmt.Errorf("409 from the witness at size %d: it holds another root hash for this size (a fork of this log?)", n)
			}
			old = n
		default:
			return nil, fmt.Errorf("the witness answered %d: %q", status, firstLine(resp))
		}
	}
}

func (l *logService) postWitness(ctx context.Context, url string, body []byte) (int, string, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, l.witnessTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, "", nil, fmt.Errorf("witness %s: %v", redact.URL(url), redact.Text(err.Error()))
	}
	resp, err := l.witnessHTTP.Do(req)
	if err != nil {
		return 0, "", nil, fmt.Errorf("witness %s: %v", redact.URL(url), redact.Text(err.Error()))
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, tlog.MaxCosignatureResponse+1))
	if err != nil {
		return 0, "", nil, fmt.Errorf("witness %s: reading the answer: %v", redact.URL(url), err)
	}
	if len(b) > tlog.MaxCosignatureResponse {
		return 0, "", nil, fmt.Errorf("witness %s: answer over %d bytes", redact.URL(url), tlog.MaxCosignatureResponse)
	}
	return resp.StatusCode, resp.Header.Get("Content-Type"), b, nil
}

func firstLine(b []byte) string {
	line, _, _ := bytes.Cut(b, []byte("\n"))
	if len(line) > 200 {
		line = line[:200]
	}
	return string(line)
}
