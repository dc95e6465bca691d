package client

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"pinset.dev/pinset/enforce"
)

// This file is the self-heal: a pinned handshake refused for a pin
// mismatch makes the client refresh (at most once per Schedule.HealMin,
// one refresh shared by concurrent failures; a refresh whose fetch failed
// for a transient reason is made again, up to DefaultHealAttempts within
// one FetchTimeout: Schedule.HealRetry), and when the refresh put a newer manifest in force (one trust.State accepted, verify.go) the
// handshake is made once more under it. It exists for the install that
// comes back after the key switched: its first request of a session would
// otherwise use the pins it held, before the background refresh fetched
// the manifest naming the new key (docs/rotation.md, "Simulation").
//
// Why a second handshake is safe for every request: it happens inside
// http.Transport.DialTLSContext, which net/http calls from dialConn
// before a persistConn exists; a request is written only to a connection
// getConn has returned, so when the dial function runs nothing of any
// request has been sent, whatever its method, and the transport sees one
// dial that took longer. (Go 1.26 net/http/transport.go: getConn,
// dialConnFor, dialConn -> customDialTLS.)
//
// What it never does: heal a report-only failure (the connection went
// ahead), accept anything trust did not (the refresh is Client.Refresh),
// fall back to fewer pins, or dial a third time.

// healer is the bookkeeping of the self-heal.
type healer struct {
	mu     sync.Mutex
	last   time.Time // when the last heal refresh started (zero: never)
	call   *healCall // the refresh in flight, nil when none
	closed bool      // Close ran: no new refresh
	wg     sync.WaitGroup
}

// stop refuses new heal refreshes and waits for the one in flight (its
// context ends with Client.done, which Close closes first).
func (h *healer) stop() {
	h.mu.Lock()
	h.closed = true
	h.mu.Unlock()
	h.wg.Wait()
}

// healCall is one heal's refresh (with its retries) shared by the
// failures that wait for it.
type healCall struct {
	done     chan struct{}
	err      error // set before done is closed
	attempts int   // refreshes made, set before done is closed
}

// healOutcome is what heal found.
type healOutcome int

const (
	healAdopted  healOutcome = iota + 1 // a newer manifest is in force: handshake again
	healNoNewer                         // refreshed; the manifest in force is the newest the service has
	healFailed                          // the refresh failed; the pins in force stay
	healLimited                         // no refresh: the last one started less than HealMin ago
	healCanceled                        // the dial's context ended while waiting
	healClosed                          // the client is closed
)

// heal refreshes after a pin failure of a handshake made under manifest
// version before, and reports whether a newer manifest is now in force.
// Concurrent callers share one refresh; Schedule.HealAllowed decides
// whether a new one may start. The refresh runs detached from ctx (other
// failures may wait for it), bounded by FetchTimeout (Refresh) and
// stopped by Close; the caller stops waiting when ctx ends.
func (c *Client) heal(ctx context.Context, before int64) (healOutcome, error) {
	if c.state.Load().manifestVersion > before {
		return healAdopted, nil // another refresh got there first
	}
	h := &c.healer
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return healClosed, nil
	}
	call := h.call
	if call == nil {
		now := c.now()
		if !c.sched.HealAllowed(h.last, now) {
			h.mu.Unlock()
			if c.state.Load().manifestVersion > before {
				return healAdopted, nil
			}
			return healLimited, nil
		}
		h.last = now
		call = &healCall{done: make(chan struct{})}
		h.call = call
		// One FetchTimeout for the refresh and its retries together.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.cfg.FetchTimeout)
		h.wg.Add(1) // under h.mu, before stop can see closed
		go func() {
			select {
			case <-c.done:
				cancel()
			case <-call.done:
			}
		}()
		go func() {
			defer h.wg.Done()
			attempts, err := c.healRefresh(rctx)
			cancel()
			h.mu.Lock()
			h.call = nil
			h.mu.Unlock()
			call.err, call.attempts = err, attempts
			close(call.done)
		}()
	}
	h.mu.Unlock()
	select {
	case <-call.done:
	case <-ctx.Done():
		return healCanceled, ctx.Err()
	}
	if c.state.Load().manifestVersion > before {
		return healAdopted, nil
	}
	if call.err != nil {
		if call.attempts > 1 {
			return healFailed, fmt.Errorf("%d refreshes failed, the last: %w", call.attempts, call.err)
		}
		return healFailed, call.err
	}
	return healNoNewer, nil
}

// healRefresh is the heal's refresh: Client.Refresh, made again after a
// transient failure (transientFetchError: the network, a 5xx or 429; never
// a document trust refused) as Schedule.HealRetry allows. It stops when ctx ends (FetchTimeout for all
// attempts, or Close) and returns how many refreshes it made and the last
// one's error.
func (c *Client) healRefresh(ctx context.Context) (int, error) {
	for n := 1; ; n++ {
		err := c.Refresh(ctx)
		if !transientFetchError(err) {
			return n, err
		}
		wait, again := c.sched.HealRetry(n, c.randFloat)
		if !again {
			return n, err
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return n, err
		case <-t.C:
		}
	}
}

// onFailureHealLater is the failure hook of handshakes the client cannot
// make again itself (Client.TLSConfig for gRPC and custom dialers, the
// TLS of a CONNECT proxy's tunnel inside the transport, CheckConnection
// for a chain the platform verified): the event and report, then a
// refresh in the background under the same rule (HealAllowed, shared with
// the dial's heal), so that the caller's next attempt uses a newer
// manifest if there is one.
func (c *Client) onFailureHealLater(f *enforce.Failure) {
	c.onFailure(f)
	if f.ReportOnly || c.fetch == nil || c.cfg.NoHealOnFailure {
		return
	}
	before := c.state.Load().manifestVersion
	go c.heal(context.Background(), before)
}

// healingDial wraps the pinned dial of the client's transports with the
// self-heal (nothing to wrap without a service or with
// Config.NoHealOnFailure).
func (c *Client) healingDial(dial func(ctx context.Context, network, addr string) (net.Conn, error)) func(ctx context.Context, network, addr string) (net.Conn, error) {
	if c.fetch == nil || c.cfg.NoHealOnFailure {
		return dial
	}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		before := c.state.Load().manifestVersion
		conn, err := dial(ctx, network, addr)
		var f *enforce.Failure
		if err == nil || !errors.As(err, &f) || f.ReportOnly {
			return conn, err
		}
		// The pin failure event and report were made inside the handshake
		// (onFailure): they say what the server presented.
		outcome, herr := c.heal(ctx, before)
		switch outcome {
		case healAdopted:
		case healNoNewer:
			return nil, fmt.Errorf("%w; refreshed the pins: manifest v%d is the newest the pin service has", err, c.state.Load().manifestVersion)
		case healFailed:
			return nil, fmt.Errorf("%w; refreshing the pins failed, manifest v%d stays in force: %v", err, before, herr)
		case healLimited:
			return nil, fmt.Errorf("%w; pins not refreshed: one refresh after pin failures per %s", err, c.sched.HealMin)
		case healCanceled:
			return nil, fmt.Errorf("%w; gave up waiting for the refresh of the pins: %v", err, herr)
		default:
			return nil, fmt.Errorf("%w; the client is closed", err)
		}
		after := c.state.Load().manifestVersion
		conn, err2 := dial(ctx, network, addr)
		if err2 != nil {
			// Refused again (a second failure event and report, under the
			// new pins) or another error: no third attempt.
			return nil, fmt.Errorf("%w (after a refresh from manifest v%d to v%d)", err2, before, after)
		}
		c.emit(Event{Kind: EventHealed, Source: "network", Host: f.Host, Port: f.Port,
			Reason: fmt.Sprintf("connection to %s succeeded after a refresh: manifest v%d refused its key, manifest v%d accepts it", hostPort(f.Host, f.Port), before, after)})
		return conn, nil
	}
}

func hostPort(host string, port int) string {
	if port == 0 {
		return host
	}
	return net.JoinHostPort(host, fmt.Sprint(port))
}
