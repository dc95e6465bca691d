package client

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"testing"
	"time"
)

func TestBackoff(t *testing.T) {
	b := backoff{interval: time.Hour, min: 30 * time.Second}
	want := []time.Duration{time.Hour, 30 * time.Second, time.Minute, 2 * time.Minute, 4 * time.Minute}
	for failures, w := range want {
		if got := b.next(failures); got != w {
			t.Errorf("next(%d) = %v, want %v", failures, got, w)
		}
	}
	if got := b.next(40); got != time.Hour {
		t.Errorf("next(40) = %v, want the interval", got)
	}
	// Jitter spreads the wait both ways within the fraction.
	for _, r := range []float64{0, 0.25, 0.5, 0.999} {
		b := backoff{interval: time.Hour, min: time.Minute, jitter: 0.1, rand: func() float64 { return r }}
		got := b.next(0)
		if got < 54*time.Minute || got > 66*time.Minute {
			t.Errorf("jittered wait %v outside 54m..66m (r=%v)", got, r)
		}
	}
	lo := backoff{interval: time.Hour, jitter: 0.1, rand: func() float64 { return 0 }}.next(0)
	hi := backoff{interval: time.Hour, jitter: 0.1, rand: func() float64 { return 0.999 }}.next(0)
	if hi-lo < 10*time.Minute {
		t.Errorf("jitter range %v..%v too narrow", lo, hi)
	}
}

func TestFetchCaps(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/big-declared":
			w.Header().Set("Content-Length", strconv.Itoa(1<<20))
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(200)
		case "/text":
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Write([]byte("{}"))
		case "/ok":
			w.Header().Set("Content-Type", "application/json; charset=utf-8")
			w.Header().Set("ETag", `"e1"`)
			w.Write([]byte("{}"))
		}
	}))
	defer srv.Close()
	u, _ := url.Parse(srv.URL)
	f := &fetcher{hc: srv.Client(), base: u, app: "a", maxBytes: 1024}
	ctx := context.Background()
	if _, err := f.get(ctx, srv.URL+"/big-declared", ""); !errors.Is(err, ErrTooLarge) {
		t.Errorf("declared length over the cap: %v", err)
	}
	if _, err := f.get(ctx, srv.URL+"/text", ""); !errors.Is(err, ErrBadContentType) {
		t.Errorf("text/html: %v", err)
	}
	res, err := f.get(ctx, srv.URL+"/ok", "")
	if err != nil || string(res.Body) != "{}" || res.ETag != `"e1"` {
		t.Errorf("ok: %+v, %v", res, err)
	}
	if got := f.rootURL(7); got != srv.URL+"/v1/apps/a/roots/7.json" {
		t.Errorf("root URL %s", got)
	}
	if got := f.manifestURL(); got != srv.URL+"/v1/apps/a/pins.json" {
		t.Errorf("manifest URL %s", got)
	}
}
