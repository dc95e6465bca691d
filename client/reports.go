package client

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"pinset.dev/pinset/enforce"
	"pinset.dev/pinset/report/trustkit"
)

// Reporting follows TrustKit: a pin failure becomes a TrustKit-format JSON
// report, POSTed in the background to the host's report URI (from the
// manifest) or else the configured one. An identical report goes out at most
// once per 24 hours. Reports travel over plain CA validation, never through
// the pins that just failed, so a broken pin set cannot silence its own
// reports. The queue is bounded and enqueueing never waits: when it is full
// the report is dropped and an [EventReportDropped] says so.
const (
	// DefaultReportQueue is the number of reports waiting to be sent.
	DefaultReportQueue = 32
	// ReportDedupWindow is how long an identical report is suppressed.
	ReportDedupWindow = 24 * time.Hour
	// reportTimeout bounds one report upload.
	reportTimeout = 30 * time.Second
	// maxDedupEntries bounds the memory of sent reports.
	maxDedupEntries = 4096
	// reportVersion is sent in the trustkit-version field.
	reportVersion = "pinset-go-1"
)

type queuedReport struct {
	url  string
	body []byte
	host string
	port int
}

type reporter struct {
	c     *Client
	hc    *http.Client
	queue chan queuedReport
	done  chan struct{}
	wg    sync.WaitGroup
	once  sync.Once

	mu      sync.Mutex
	seen    map[[32]byte]time.Time
	pending int // queued or being sent
	closed  bool
}

func newReporter(c *Client, hc *http.Client, size int) *reporter {
	if size <= 0 {
		size = DefaultReportQueue
	}
	return &reporter{c: c, hc: hc, queue: make(chan queuedReport, size), done: make(chan struct{}), seen: make(map[[32]byte]time.Time)}
}

// buildReport turns a pin failure into TrustKit's report shape
// (trustkit.FromFailure), with the app's details and the expiry of the
// pins it held.
func (c *Client) buildReport(f *enforce.Failure) *trustkit.Body {
	app := trustkit.App{
		BundleID:        c.cfg.BundleID,
		Version:         c.cfg.AppVersion,
		Platform:        c.cfg.Platform,
		PlatformVersion: c.cfg.PlatformVersion,
		ClientVersion:   reportVersion,
	}
	if app.BundleID == "" {
		app.BundleID = c.appID
	}
	r := trustkit.FromFailure(f, app, c.now())
	if st := c.state.Load(); st != nil && !st.expires.IsZero() {
		d := st.expires.UTC().Format("2006-01-02")
		r.KnownPinsExpirationDate = &d
	}
	return r
}

// reportURL picks where a failure's report goes: the policy's report URI,
// else the configured report URL (by default the pin service's
// /v1/apps/{app}/reports).
func (c *Client) reportURL(f *enforce.Failure) string {
	if f.Policy.ReportURI != "" {
		return f.Policy.ReportURI
	}
	return c.cfg.ReportURL
}

// enqueue schedules a report without ever blocking. It returns false when
// the report was a duplicate or was dropped.
func (r *reporter) enqueue(f *enforce.Failure) bool {
	c := r.c
	u := c.reportURL(f)
	if u == "" {
		c.emit(Event{Kind: EventReportDropped, Host: f.Host, Port: f.Port, Reason: "no report URI configured for " + f.Policy.Pattern})
		return false
	}
	rep := c.buildReport(f)
	// The dedup key is the report without its timestamp, and where it goes.
	key := *rep
	key.DateTime = ""
	kb, _ := json.Marshal(&key)
	id := sha256.Sum256(append(kb, u...))
	now := c.now()

	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return false
	}
	if last, ok := r.seen[id]; ok && now.Sub(last) < ReportDedupWindow && now.Sub(last) >= 0 {
		r.mu.Unlock()
		return false
	}
	body, err := rep.Marshal()
	if err != nil {
		r.mu.Unlock()
		c.emit(Event{Kind: EventReportDropped, Host: f.Host, Port: f.Port, ReportURL: u, Err: err, Reason: "report cannot be encoded: " + err.Error()})
		return false
	}
	select {
	case r.queue <- queuedReport{url: u, body: body, host: f.Host, port: f.Port}:
	default:
		r.mu.Unlock()
		c.emit(Event{Kind: EventReportDropped, Host: f.Host, Port: f.Port, ReportURL: u, Reason: "report queue full"})
		return false
	}
	r.seen[id] = now
	r.pending++
	if len(r.seen) > maxDedupEntries {
		for k, t := range r.seen {
			if now.Sub(t) >= ReportDedupWindow || len(r.seen) > maxDedupEntries {
				delete(r.seen, k)
			}
		}
	}
	r.mu.Unlock()
	r.once.Do(func() {
		r.wg.Add(1)
		go r.run()
	})
	return true
}

func (r *reporter) run() {
	defer r.wg.Done()
	for {
		select {
		case <-r.done:
			return
		case q := <-r.queue:
			r.send(q)
			r.mu.Lock()
			r.pending--
			r.mu.Unlock()
		}
	}
}

func (r *reporter) send(q queuedReport) {
	ctx, cancel := context.WithTimeout(context.Background(), reportTimeout)
	defer cancel()
	go func() {
		select {
		case <-r.done:
			cancel()
		case <-ctx.Done():
		}
	}()
	err := postReport(ctx, r.hc, q.url, q.body)
	if err != nil {
		r.c.emit(Event{Kind: EventReportDropped, Host: q.host, Port: q.port, ReportURL: q.url, Err: err, Reason: "report upload failed: " + err.Error()})
		return
	}
	r.c.emit(Event{Kind: EventReportSent, Host: q.host, Port: q.port, ReportURL: q.url, Reason: "pin-failure report sent to " + q.url})
}

func postReport(ctx context.Context, hc *http.Client, u string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("POST %s: HTTP status %d", u, resp.StatusCode)
	}
	return nil
}

// close stops the worker; queued reports that were not sent are dropped.
func (r *reporter) close() {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return
	}
	r.closed = true
	r.mu.Unlock()
	close(r.done)
	r.wg.Wait()
}

// flush waits until the queue is empty or ctx ends; tests and short-lived
// programs (pinset get) use it so a report is not lost at exit.
func (r *reporter) flush(ctx context.Context) error {
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for {
		r.mu.Lock()
		n, closed := r.pending, r.closed
		r.mu.Unlock()
		if n == 0 || closed {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}
