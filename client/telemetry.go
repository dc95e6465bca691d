package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"sync"
	"time"

	"pinset.dev/pinset/telemetry"
)

// Adoption telemetry (docs/client.md, "Adoption telemetry"): each manifest
// fetch carries a Pinset-Telemetry header naming the versions this install
// enforces and an anonymous install id, random from Config.Rand, kept in
// the Store under installKey and replaced telemetry.RotateAfter after it
// was drawn (by Config.Now). Config.NoTelemetry turns all of it off.

// SDKName is the sdk field of the telemetry header.
const SDKName = "pinset-go/1"

// installKey is the Store key of the install id, apart from the state so
// that neither write can spoil the other.
const installKey = "pinset-install.json"

// maxInstallBytes caps the install record read back from a Store.
const maxInstallBytes = 256

type installRecord struct {
	ID      string `json:"id"`
	Created int64  `json:"created"` // Unix seconds
}

// installID holds the id in memory once loaded or drawn.
type installID struct {
	mu      sync.Mutex
	id      string
	created time.Time
}

// telemetryInfo returns the header for a fetch made while s is in force,
// or "" when telemetry is off or no id could be drawn (then the fetch goes
// without it, and the event says why).
func (c *Client) telemetryInfo(s *snapshot) string {
	if c.cfg.NoTelemetry {
		return ""
	}
	id, err := c.install.get(c)
	if err != nil {
		c.emit(Event{Kind: EventRejected, Source: "telemetry", Err: err, Reason: "manifest fetched without telemetry: " + err.Error()})
		return ""
	}
	return telemetry.Info{ID: id, RootVersion: uint64(s.rootVersion), ManifestVersion: uint64(s.manifestVersion), SDK: SDKName}.String()
}

// get returns the install id, loading it from the Store the first time
// and drawing a new one when there is none, it is unreadable, it is
// RotateAfter old, or it claims to be from the future.
func (x *installID) get(c *Client) (string, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	now := c.now()
	if x.id == "" && c.cfg.Store != nil {
		if rec, err := loadInstall(c.cfg.Store); err == nil {
			x.id, x.created = rec.ID, time.Unix(rec.Created, 0)
		} else if !errors.Is(err, fs.ErrNotExist) {
			c.emit(Event{Kind: EventRejected, Source: "cache", Err: err, Reason: "install id unreadable, a new one is drawn: " + err.Error()})
		}
	}
	if x.id != "" && now.Sub(x.created) < telemetry.RotateAfter && !x.created.After(now.Add(time.Hour)) {
		return x.id, nil
	}
	c.randMu.Lock()
	id, err := telemetry.NewID(c.cfg.Rand)
	c.randMu.Unlock()
	if err != nil {
		return "", err
	}
	x.id, x.created = id, now
	if c.cfg.Store != nil {
		b, _ := json.Marshal(installRecord{ID: id, Created: now.Unix()})
		if err := c.cfg.Store.Save(installKey, b); err != nil {
			// Still used for this run; a new one is drawn next run.
			c.emit(Event{Kind: EventRejected, Source: "cache", Err: err, Reason: "cannot write the install id: " + err.Error()})
		}
	}
	return id, nil
}

func loadInstall(st Store) (installRecord, error) {
	b, err := st.Load(installKey)
	if err != nil {
		return installRecord{}, err
	}
	if len(b) > maxInstallBytes {
		return installRecord{}, fmt.Errorf("install id record larger than %d bytes", maxInstallBytes)
	}
	var rec installRecord
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rec); err != nil {
		return installRecord{}, fmt.Errorf("install id record: %w", err)
	}
	if !telemetry.ValidID(rec.ID) || rec.Created <= 0 {
		return installRecord{}, errors.New("install id record: invalid id or time")
	}
	return rec, nil
}

type telemetryKey struct{}

// withTelemetry puts the header for a manifest fetch under s into ctx; the
// fetcher adds it to that one request (setTelemetry).
func (c *Client) withTelemetry(ctx context.Context, s *snapshot) context.Context {
	if v := c.telemetryInfo(s); v != "" {
		return context.WithValue(ctx, telemetryKey{}, v)
	}
	return ctx
}

// setTelemetry adds the header ctx carries, if any, to req.
func setTelemetry(ctx context.Context, req *http.Request) {
	if v, ok := ctx.Value(telemetryKey{}).(string); ok {
		req.Header.Set(telemetry.Header, v)
	}
}
