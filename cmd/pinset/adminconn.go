package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"pinset.dev/pinset/internal/redact"
)

// adminConn is how a command reaches the pin service's admin API (pinset
// publish, rotate, device): the flags that name the service and
// authenticate to it, checked once by open.
type adminConn struct {
	serverURL, token, caFile, certFile, keyFile string
	timeout                                     time.Duration
	base                                        *url.URL
	hc                                          *http.Client
}

// adminTimeout is the default --timeout of an admin request: a rotation
// step may publish, and the publish gate probes live hosts.
const adminTimeout = 120 * time.Second

// flags declares --server, --token, --cafile, --client-cert, --client-key
// and --timeout, whose default is timeout.
func (c *adminConn) flags(cmd *cobra.Command, timeout time.Duration) {
	f := cmd.Flags()
	f.StringVar(&c.serverURL, "server", "", "base `URL` of the pin service, e.g. https://pins.example.com")
	f.StringVar(&c.token, "token", "", "admin `TOKEN` (default: $PINSET_TOKEN)")
	f.StringVar(&c.caFile, "cafile", "", "PEM `FILE` of CAs to trust for the service (added to the system roots)")
	f.StringVar(&c.certFile, "client-cert", "", "client certificate `FILE` for an admin API behind mutual TLS")
	f.StringVar(&c.keyFile, "client-key", "", "private key `FILE` of --client-cert")
	durationVar(f, &c.timeout, "timeout", timeout, "time limit per request (a publication waits for the publish gate, which probes live hosts)")
}

// open checks the flags (--server an http or https URL, named redacted in
// errors; a token from --token or $PINSET_TOKEN) and makes the HTTP client.
func (c *adminConn) open() error {
	if c.token == "" {
		c.token = os.Getenv("PINSET_TOKEN")
	}
	if c.serverURL == "" {
		return errors.New("--server is required")
	}
	if c.token == "" {
		return errorWithHint(errors.New("no token"), "pass --token or set PINSET_TOKEN (create one with 'pinset token new')")
	}
	base, err := url.Parse(strings.TrimRight(c.serverURL, "/"))
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return fmt.Errorf("--server %q: want an http:// or https:// URL", redact.URL(c.serverURL))
	}
	c.base = base
	c.hc, err = publishClient(c.caFile, c.certFile, c.keyFile, c.timeout)
	return err
}

// call sends one admin request and decodes a 2xx answer into out.
func (c *adminConn) call(cmd *cobra.Command, method, path string, body any, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	u := *c.base
	path, u.RawQuery, _ = strings.Cut(path, "?")
	u.Path += path
	req, err := http.NewRequestWithContext(cmd.Context(), method, u.String(), rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %v", method, path, redactURLError(err))
	}
	defer resp.Body.Close()
	rb, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if resp.StatusCode/100 != 2 {
		var e struct{ Error string }
		if json.Unmarshal(rb, &e) == nil && e.Error != "" {
			return fmt.Errorf("%s (HTTP %d)", e.Error, resp.StatusCode)
		}
		return fmt.Errorf("%s %s: %s", method, path, resp.Status)
	}
	if raw, ok := out.(*[]byte); ok {
		*raw = rb
		return nil
	}
	if err := json.Unmarshal(rb, out); err != nil {
		return fmt.Errorf("%s %s answered %s, not a pinset answer: %v", method, path, resp.Status, err)
	}
	return nil
}
