package alert

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"
)

// DefaultTimeout bounds one webhook delivery when the notifier's HTTP
// client has no timeout of its own.
const DefaultTimeout = 10 * time.Second

// maxResponse caps how much of a receiver's answer is read.
const maxResponse = 64 << 10

// postJSON sends body as JSON and wants a 2xx answer.
func postJSON(ctx context.Context, c *http.Client, target string, body any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	if c == nil {
		c = &http.Client{Timeout: DefaultTimeout}
	}
	if c.Timeout == 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultTimeout)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "pinset-alert")
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("POST %s: %s: %s", redact(target), resp.Status, strings.TrimSpace(string(firstLine(msg))))
	}
	return nil
}

// redact drops the path and query of a URL for messages: Slack webhook
// URLs carry their secret in the path.
func redact(target string) string {
	u, err := url.Parse(target)
	if err != nil {
		return "webhook"
	}
	return u.Scheme + "://" + u.Host + "/..."
}

func firstLine(b []byte) []byte {
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		b = b[:i]
	}
	if len(b) > 200 {
		b = b[:200]
	}
	return b
}

// Slack posts to a Slack incoming webhook (or anything that takes
// {"text": "..."}, such as Mattermost or Rocket.Chat): one message per
// batch, one line per alert.
type Slack struct {
	URL    string
	Client *http.Client
}

// Name implements Notifier.
func (s *Slack) Name() string { return "slack " + redact(s.URL) }

// SlackMessage is the body Slack receives.
type SlackMessage struct {
	Text string `json:"text"`
}

// Notify implements Notifier.
func (s *Slack) Notify(ctx context.Context, alerts []Alert, now time.Time) error {
	return postJSON(ctx, s.Client, s.URL, SlackMessage{Text: SlackText(alerts, now)})
}

// SlackText renders alerts as Slack mrkdwn lines:
//
//	[FIRING] PinsetCoverageLost api.example.com 127.0.0.3:443: clients holding manifest v3 refuse this address
//	[RESOLVED] PinsetCoverageLost api.example.com 127.0.0.3:443: ...
func SlackText(alerts []Alert, now time.Time) string {
	var b strings.Builder
	for i, a := range alerts {
		if i > 0 {
			b.WriteByte('\n')
		}
		fmt.Fprintf(&b, "[%s] %s", strings.ToUpper(a.Status(now)), a.Name())
		if app := a.Labels["app"]; app != "" {
			fmt.Fprintf(&b, " app=%s", app)
		}
		if h := a.Labels["host"]; h != "" {
			fmt.Fprintf(&b, " %s", h)
		}
		if addr := a.Labels["address"]; addr != "" {
			fmt.Fprintf(&b, " %s", addr)
		}
		if s := a.Annotations["summary"]; s != "" {
			fmt.Fprintf(&b, ": %s", s)
		}
		if a.Resolved(now) {
			fmt.Fprintf(&b, " (resolved after %s)", a.EndsAt.Sub(a.StartsAt).Round(time.Second))
		}
	}
	return b.String()
}

// Alertmanager pushes alerts into an Alertmanager through its API v2:
// POST {URL}/api/v2/alerts with a JSON list of alerts. A resolved alert is
// sent with its endsAt (in the past), which resolves it in Alertmanager.
type Alertmanager struct {
	// URL is Alertmanager's base URL, e.g. http://alertmanager:9093.
	URL    string
	Client *http.Client
	// FiringTTL, when set, sends firing alerts with endsAt = now +
	// FiringTTL, as Prometheus does (4 evaluation intervals): Alertmanager
	// keeps them firing that long without news, so repeat them more often
	// than that. Zero sends no endsAt, and Alertmanager's resolve_timeout
	// applies instead.
	FiringTTL time.Duration
}

// Name implements Notifier.
func (am *Alertmanager) Name() string { return "alertmanager " + redact(am.URL) }

// PostableAlert is one element of the API v2 push body.
type PostableAlert struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	StartsAt     time.Time         `json:"startsAt,omitzero"`
	EndsAt       time.Time         `json:"endsAt,omitzero"`
	GeneratorURL string            `json:"generatorURL,omitempty"`
}

// Notify implements Notifier.
func (am *Alertmanager) Notify(ctx context.Context, alerts []Alert, now time.Time) error {
	body := make([]PostableAlert, len(alerts))
	for i, a := range alerts {
		body[i] = PostableAlert{Labels: a.Labels, Annotations: a.Annotations, StartsAt: a.StartsAt, EndsAt: a.EndsAt, GeneratorURL: a.GeneratorURL}
		if a.EndsAt.IsZero() && am.FiringTTL > 0 {
			body[i].EndsAt = now.Add(am.FiringTTL)
		}
	}
	return postJSON(ctx, am.Client, strings.TrimSuffix(am.URL, "/")+"/api/v2/alerts", body)
}

// Webhook posts Alertmanager's webhook notification (version "4") to any
// URL, so receivers written for Alertmanager work unchanged.
type Webhook struct {
	URL    string
	Client *http.Client
	// Receiver names this receiver in the message ("pinset" if empty).
	Receiver string
	// ExternalURL is where the message comes from (the pinset service).
	ExternalURL string
}

// Name implements Notifier.
func (w *Webhook) Name() string { return "webhook " + redact(w.URL) }

// WebhookMessage is Alertmanager's webhook notification shape.
type WebhookMessage struct {
	Version           string            `json:"version"`
	GroupKey          string            `json:"groupKey"`
	TruncatedAlerts   int               `json:"truncatedAlerts"`
	Status            string            `json:"status"`
	Receiver          string            `json:"receiver"`
	GroupLabels       map[string]string `json:"groupLabels"`
	CommonLabels      map[string]string `json:"commonLabels"`
	CommonAnnotations map[string]string `json:"commonAnnotations"`
	ExternalURL       string            `json:"externalURL"`
	Alerts            []WebhookAlert    `json:"alerts"`
}

// WebhookAlert is one alert of a WebhookMessage. EndsAt is
// "0001-01-01T00:00:00Z" while firing, as Alertmanager sends it.
type WebhookAlert struct {
	Status       string            `json:"status"`
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL"`
	Fingerprint  string            `json:"fingerprint"`
}

// Notify implements Notifier.
func (w *Webhook) Notify(ctx context.Context, alerts []Alert, now time.Time) error {
	return postJSON(ctx, w.Client, w.URL, w.Message(alerts, now))
}

// Message builds the notification for alerts: status is "firing" when any
// alert fires, "resolved" when all are resolved, as in Alertmanager.
func (w *Webhook) Message(alerts []Alert, now time.Time) WebhookMessage {
	recv := w.Receiver
	if recv == "" {
		recv = "pinset"
	}
	msg := WebhookMessage{Version: "4", Status: "resolved", Receiver: recv, GroupLabels: map[string]string{}, ExternalURL: w.ExternalURL}
	msg.CommonLabels = common(alerts, func(a Alert) map[string]string { return a.Labels })
	msg.CommonAnnotations = common(alerts, func(a Alert) map[string]string { return a.Annotations })
	if n, ok := msg.CommonLabels["alertname"]; ok {
		msg.GroupLabels["alertname"] = n
	}
	msg.GroupKey = "{}:" + labelString(msg.GroupLabels)
	for _, a := range alerts {
		st := a.Status(now)
		if st == "firing" {
			msg.Status = "firing"
		}
		ann := a.Annotations
		if ann == nil {
			ann = map[string]string{}
		}
		msg.Alerts = append(msg.Alerts, WebhookAlert{Status: st, Labels: a.Labels, Annotations: ann, StartsAt: a.StartsAt, EndsAt: a.EndsAt, GeneratorURL: a.GeneratorURL, Fingerprint: a.Fingerprint()})
	}
	return msg
}

// common returns the pairs every alert shares.
func common(alerts []Alert, get func(Alert) map[string]string) map[string]string {
	out := map[string]string{}
	if len(alerts) == 0 {
		return out
	}
	for k, v := range get(alerts[0]) {
		out[k] = v
	}
	for _, a := range alerts[1:] {
		m := get(a)
		for k, v := range out {
			if m[k] != v {
				delete(out, k)
			}
		}
	}
	return out
}

func labelString(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%q", k, m[k])
	}
	return "{" + strings.Join(parts, ",") + "}"
}
