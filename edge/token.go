package edge

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/time/rate"

	"pinset.dev/pinset/internal/redact"
)

// Limits of access tokens and key sets.
const (
	MaxToken = 8 << 10 // bytes of a bearer token
	MaxJWKS  = 1 << 20 // bytes of a JWKS document
	MaxSkew  = 5 * time.Minute
)

// Errors of Tokens.Verify. Every refusal wraps ErrToken.
var (
	ErrToken        = errors.New("edge: access token refused")
	ErrTokenMissing = fmt.Errorf("%w: no bearer token", ErrToken)
	ErrScope        = errors.New("edge: access token lacks a required scope")
)

// Algorithms are the JWS algorithms the edge accepts. Everything else —
// "none", HS256 (whose "key" would be the public key anyone can fetch),
// RS384, PS256 — is refused before any key is looked up.
var Algorithms = []string{"RS256", "ES256", "EdDSA"}

// TokenConfig says whose tokens are accepted.
type TokenConfig struct {
	JWKSURL  string
	Issuer   string
	Audience string
	Skew     time.Duration // allowed clock difference for exp, nbf, iat; at most MaxSkew
	Refresh  time.Duration // background refresh of the key set; default 15m
	// UnknownKIDEvery bounds refreshes caused by tokens naming an unknown
	// key id (default one per 10s), so forged kids cannot flood the issuer.
	UnknownKIDEvery time.Duration
	Client          *http.Client // for the JWKS URL (its roots); default http.DefaultClient's transport
	// CacheFor keeps a verified token's claims for this long (never past
	// its exp), keyed by the SHA-256 of the whole token, so a client's
	// repeated requests cost one signature check; a key removed from the
	// set stops working for cached tokens after at most CacheFor. Zero
	// means 1 minute; negative turns the cache off.
	CacheFor time.Duration
	Now      func() time.Time
	// OnRefreshError is told of every failed key set fetch (the set held
	// stays); nil drops them, so set it.
	OnRefreshError func(error)
}

// Tokens verifies access tokens (JWT, RFC 7519) against an issuer's JWKS,
// with github.com/golang-jwt/jwt/v5 and github.com/MicahParks/keyfunc/v3:
// the key set is cached, refreshed in the background, and refreshed at
// once (rate-limited) when a token names a key id it does not hold, so a
// rotated key is accepted without a restart.
type Tokens struct {
	kf       keyfunc.Keyfunc
	parser   *jwt.Parser
	now      func() time.Time
	skew     time.Duration
	cacheFor time.Duration

	mu    sync.Mutex
	cache map[[32]byte]cachedClaims
}

type cachedClaims struct {
	c     *Claims
	until time.Time
}

// maxCachedTokens bounds the cache; when full it starts again empty.
const maxCachedTokens = 10000

// Claims are the claims the edge reads.
type Claims struct {
	jwt.RegisteredClaims
	Scope string   `json:"scope,omitempty"` // RFC 8693 / OAuth 2.0: space-separated
	Scp   []string `json:"scp,omitempty"`   // the list spelling some issuers use
}

// Scopes are the token's scopes from either spelling.
func (c *Claims) Scopes() []string {
	return append(strings.Fields(c.Scope), c.Scp...)
}

// NewTokens starts fetching the key set (until ctx ends). The first fetch
// failing is not fatal: tokens are refused until a fetch succeeds.
func NewTokens(ctx context.Context, c TokenConfig) (*Tokens, error) {
	if !strings.HasPrefix(c.JWKSURL, "https://") {
		return nil, fmt.Errorf("edge: tokens.jwks_url %s: must be an https URL", redact.URL(c.JWKSURL))
	}
	if c.Issuer == "" || c.Audience == "" {
		return nil, errors.New("edge: tokens: issuer and audience are required")
	}
	if c.Skew < 0 || c.Skew > MaxSkew {
		return nil, fmt.Errorf("edge: tokens.skew %s: must be between 0 and %s", c.Skew, MaxSkew)
	}
	if c.Refresh <= 0 {
		c.Refresh = 15 * time.Minute
	}
	if c.UnknownKIDEvery <= 0 {
		c.UnknownKIDEvery = 10 * time.Second
	}
	base := http.DefaultTransport
	if c.Client != nil && c.Client.Transport != nil {
		base = c.Client.Transport
	}
	client := &http.Client{Transport: capped{base, MaxJWKS}, Timeout: 10 * time.Second}
	kf, err := keyfunc.NewDefaultOverrideCtx(ctx, []string{c.JWKSURL}, keyfunc.Override{
		Client:            client,
		RefreshInterval:   c.Refresh,
		RefreshUnknownKID: rate.NewLimiter(rate.Every(c.UnknownKIDEvery), 1),
		RateLimitWaitMax:  2 * time.Second,
		RefreshErrorHandlerFunc: func(string) func(context.Context, error) {
			return func(_ context.Context, err error) {
				if c.OnRefreshError != nil {
					c.OnRefreshError(redact.Error(err))
				}
			}
		},
	})
	if err != nil {
		return nil, redact.Error(fmt.Errorf("edge: key set: %w", err))
	}
	// Only signing keys: a JWK marked "use": "enc" never verifies a token
	// (RFC 7517 section 4.2); keys without "use" are signing keys.
	if kf, err = keyfunc.New(keyfunc.Options{Ctx: ctx, Storage: kf.Storage(), UseWhitelist: []jwkset.USE{jwkset.UseSig, ""}}); err != nil {
		return nil, err
	}
	now := c.Now
	if now == nil {
		now = time.Now
	}
	p := jwt.NewParser(
		jwt.WithValidMethods(Algorithms),
		jwt.WithIssuer(c.Issuer),
		jwt.WithAudience(c.Audience),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(c.Skew),
		jwt.WithTimeFunc(now),
		jwt.WithStrictDecoding(),
	)
	if c.CacheFor == 0 {
		c.CacheFor = time.Minute
	}
	return &Tokens{kf: kf, parser: p, now: now, skew: c.Skew, cacheFor: c.CacheFor}, nil
}

// Verify is the one place that decides whether an access token is
// accepted: signed by a key of the issuer's current set with one of
// Algorithms, issuer and audience as configured, exp present and not past,
// nbf and iat not in the future (each within the skew), a sub without
// control characters, and every scope in need.
func (t *Tokens) Verify(ctx context.Context, raw string, need []string) (*Claims, error) {
	if raw == "" {
		return nil, ErrTokenMissing
	}
	if len(raw) > MaxToken {
		return nil, fmt.Errorf("%w: longer than %d bytes", ErrToken, MaxToken)
	}
	c, err := t.claims(ctx, raw)
	if err != nil {
		return nil, err
	}
	have := c.Scopes()
	for _, s := range need {
		if !slices.Contains(have, s) {
			return c, fmt.Errorf("%w %q", ErrScope, s)
		}
	}
	return c, nil
}

// claims verifies raw, or finds it in the cache of tokens verified within
// cacheFor whose exp (and nbf) still hold.
func (t *Tokens) claims(ctx context.Context, raw string) (*Claims, error) {
	now := t.now()
	h := sha256.Sum256([]byte(raw))
	if t.cacheFor > 0 {
		t.mu.Lock()
		e, ok := t.cache[h]
		t.mu.Unlock()
		if ok && now.Before(e.until) && (e.c.NotBefore == nil || !e.c.NotBefore.After(now.Add(t.skew))) {
			return e.c, nil
		}
	}
	var c Claims
	if _, err := t.parser.ParseWithClaims(raw, &c, t.kf.KeyfuncCtx(ctx)); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrToken, err)
	}
	if c.Subject == "" || strings.IndexFunc(c.Subject, func(r rune) bool { return r < 0x20 || r == 0x7f }) >= 0 {
		return nil, fmt.Errorf("%w: sub is empty or holds control characters", ErrToken)
	}
	if t.cacheFor > 0 {
		until := now.Add(t.cacheFor)
		if exp := c.ExpiresAt.Add(t.skew); exp.Before(until) {
			until = exp
		}
		t.mu.Lock()
		if t.cache == nil || len(t.cache) >= maxCachedTokens {
			t.cache = map[[32]byte]cachedClaims{}
		}
		t.cache[h] = cachedClaims{&c, until}
		t.mu.Unlock()
	}
	return &c, nil
}

// bearer is the token of an "Authorization: Bearer" header (RFC 6750; the
// scheme in any case), or "" when there is none.
func bearer(h http.Header) (string, bool) {
	v := h.Values("Authorization")
	if len(v) != 1 {
		return "", len(v) == 0
	}
	scheme, tok, ok := strings.Cut(v[0], " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	return strings.TrimSpace(tok), true
}

// capped refuses response bodies over max bytes (the key set is untrusted
// input).
type capped struct {
	rt  http.RoundTripper
	max int64
}

func (c capped) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := c.rt.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	if resp.ContentLength > c.max {
		resp.Body.Close()
		return nil, fmt.Errorf("edge: response of %d bytes, over %d", resp.ContentLength, c.max)
	}
	resp.Body = &cappedBody{resp.Body, c.max}
	return resp, nil
}

type cappedBody struct {
	io.ReadCloser
	left int64
}

func (b *cappedBody) Read(p []byte) (int, error) {
	if b.left < 0 {
		return 0, errors.New("edge: response body over its limit")
	}
	if int64(len(p)) > b.left+1 {
		p = p[:b.left+1]
	}
	n, err := b.ReadCloser.Read(p)
	b.left -= int64(n)
	if b.left < 0 {
		return 0, errors.New("edge: response body over its limit")
	}
	return n, err
}
