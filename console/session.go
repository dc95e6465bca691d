package console

import (
	"context"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"pinset.dev/pinset/server"
)

// Cookie names. The session cookie is scoped to Prefix; the sign-in
// cookie, which carries the sign-in form's CSRF token, to the sign-in
// page.
const (
	SessionCookie = "pinset_console"
	signInCookie  = "pinset_console_signin"
)

// maxFormBytes caps a POST body (an envelope is at most 1 MiB).
const maxFormBytes = 2 << 20

// session is one signed-in browser.
type session struct {
	id      string
	token   string // the admin token's name (never its secret)
	csrf    string
	created time.Time
	expires time.Time
}

// sessions holds sessions in memory: a restart signs everyone out.
type sessions struct {
	rand io.Reader
	now  func() time.Time
	life time.Duration
	max  int

	mu sync.Mutex
	m  map[string]*session
}

func newSessions(rnd io.Reader, now func() time.Time, life time.Duration, max int) *sessions {
	return &sessions{rand: rnd, now: now, life: life, max: max, m: map[string]*session{}}
}

// randomID returns 32 bytes from the injected reader, base64url.
func randomID(r io.Reader) (string, error) {
	var b [32]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

func (ss *sessions) create(token string) (*session, error) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	id, err := randomID(ss.rand)
	if err != nil {
		return nil, err
	}
	csrf, err := randomID(ss.rand)
	if err != nil {
		return nil, err
	}
	if _, dup := ss.m[id]; dup {
		return nil, errors.New("console: the random source repeated a session id")
	}
	now := ss.now()
	ss.prune(now)
	if len(ss.m) >= ss.max {
		var oldest *session
		for _, s := range ss.m {
			if oldest == nil || s.created.Before(oldest.created) {
				oldest = s
			}
		}
		delete(ss.m, oldest.id)
	}
	s := &session{id: id, token: token, csrf: csrf, created: now, expires: now.Add(ss.life)}
	ss.m[id] = s
	return s, nil
}

// get returns the live session with this id, or nil.
func (ss *sessions) get(id string) *session {
	if id == "" {
		return nil
	}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	s := ss.m[id]
	if s == nil {
		return nil
	}
	if !ss.now().Before(s.expires) {
		delete(ss.m, id)
		return nil
	}
	return s
}

func (ss *sessions) drop(id string) {
	ss.mu.Lock()
	delete(ss.m, id)
	ss.mu.Unlock()
}

// dropToken ends every session of a token (after it is revoked).
func (ss *sessions) dropToken(name string) int {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	n := 0
	for id, s := range ss.m {
		if s.token == name {
			delete(ss.m, id)
			n++
		}
	}
	return n
}

func (ss *sessions) prune(now time.Time) {
	for id, s := range ss.m {
		if !now.Before(s.expires) {
			delete(ss.m, id)
		}
	}
}

func (c *Console) setCookie(w http.ResponseWriter, r *http.Request, name, value, path string, expires time.Time) {
	ck := &http.Cookie{Name: name, Value: value, Path: path, HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil}
	if expires.IsZero() {
		ck.MaxAge = -1
	} else {
		ck.Expires = expires
		ck.MaxAge = int(expires.Sub(c.now()) / time.Second)
		if ck.MaxAge <= 0 {
			ck.MaxAge = -1
		}
	}
	http.SetCookie(w, ck)
}

func cookieValue(r *http.Request, name string) string {
	ck, err := r.Cookie(name)
	if err != nil {
		return ""
	}
	return ck.Value
}

// sameOrigin refuses requests a browser marks as coming from elsewhere:
// an Origin header naming another host, or Sec-Fetch-Site other than
// same-origin (or none: typed by the user). Requests without these
// headers (old browsers, curl) still need the CSRF token.
func sameOrigin(r *http.Request) bool {
	if o := r.Header.Get("Origin"); o != "" {
		u, err := url.Parse(o)
		if err != nil || o == "null" || !strings.EqualFold(u.Host, r.Host) {
			return false
		}
	}
	switch r.Header.Get("Sec-Fetch-Site") {
	case "", "same-origin", "none":
		return true
	}
	return false
}

// checkCSRF is the one check of a state-changing request: same origin
// (sameOrigin) and the expected token in the form field "csrf", compared
// in constant time.
func checkCSRF(r *http.Request, want string) bool {
	got := r.PostFormValue("csrf")
	return sameOrigin(r) && want != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// parseForm reads a POST body, bounded.
func parseForm(w http.ResponseWriter, r *http.Request) error {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/form-data") {
		return r.ParseMultipartForm(maxFormBytes)
	}
	return r.ParseForm()
}

type handler func(w http.ResponseWriter, r *http.Request, s *session)

// authed wraps the pages that need a session: the admin transport (client
// certificate when configured) on every request, a live session whose
// token is still live, and on POST the CSRF check.
func (c *Console) authed(h handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := c.srv.AdminTransport(r); err != nil {
			c.errorPage(w, r, nil, http.StatusForbidden, "Client certificate required", err.Error())
			return
		}
		s := c.sessions.get(cookieValue(r, SessionCookie))
		if s != nil {
			live, err := c.tokenLive(r.Context(), s.token)
			if err != nil {
				c.internalError(w, r, nil, err)
				return
			}
			if !live {
				c.sessions.dropToken(s.token)
				c.log.Info("console session ended: token revoked", "token", s.token)
				s = nil
			}
		}
		if s == nil {
			if r.Method == http.MethodGet {
				http.Redirect(w, r, Prefix+"signin?next="+url.QueryEscape(r.URL.Path), http.StatusSeeOther)
				return
			}
			c.errorPage(w, r, nil, http.StatusForbidden, "Signed out", "Your session has ended. Sign in again.")
			return
		}
		if r.Method == http.MethodPost {
			if err := parseForm(w, r); err != nil {
				c.errorPage(w, r, s, http.StatusRequestEntityTooLarge, "Upload refused", "The form could not be read: "+err.Error())
				return
			}
			if !checkCSRF(r, s.csrf) {
				c.log.Warn("console: cross-site or tokenless form post refused", "path", r.URL.Path, "token", s.token)
				c.errorPage(w, r, s, http.StatusForbidden, "Request refused",
					"This form did not come from this console (missing or wrong CSRF token, or another origin). Nothing was changed.")
				return
			}
		}
		h(w, r.WithContext(server.WithTokenName(r.Context(), s.token)), s)
	}
}

// tokenLive reports whether the named admin token exists and is not
// revoked (the store's token list).
func (c *Console) tokenLive(ctx context.Context, name string) (bool, error) {
	ts, err := c.st.Tokens(ctx)
	if err != nil {
		return false, err
	}
	for _, t := range ts {
		if t.Name == name {
			return t.RevokedAt.IsZero(), nil
		}
	}
	return false, nil
}

// safeNext returns where to go after signing in: a console path only.
func safeNext(next string) string {
	if !strings.HasPrefix(next, Prefix) || strings.ContainsAny(next, "\\?#") || strings.Contains(next, "//") || strings.Contains(next, "..") {
		return Prefix + "apps"
	}
	return next
}

type signInData struct {
	CSRF  string
	Next  string
	Error string
}

func (c *Console) handleSignInPage(w http.ResponseWriter, r *http.Request) {
	if err := c.srv.AdminTransport(r); err != nil {
		c.errorPage(w, r, nil, http.StatusForbidden, "Client certificate required", err.Error())
		return
	}
	if s := c.sessions.get(cookieValue(r, SessionCookie)); s != nil {
		http.Redirect(w, r, Prefix+"apps", http.StatusSeeOther)
		return
	}
	c.signInForm(w, r, http.StatusOK, safeNext(r.URL.Query().Get("next")), "")
}

func (c *Console) signInForm(w http.ResponseWriter, r *http.Request, status int, next, msg string) {
	tok, err := randomID(c.sessions.rand)
	if err != nil {
		c.internalError(w, r, nil, err)
		return
	}
	c.setCookie(w, r, signInCookie, tok, Prefix+"signin", c.now().Add(30*time.Minute))
	c.render(w, r, status, "signin", &page{Title: "Sign in", Data: signInData{CSRF: tok, Next: next, Error: msg}})
}

func (c *Console) handleSignIn(w http.ResponseWriter, r *http.Request) {
	if err := c.srv.AdminTransport(r); err != nil {
		c.errorPage(w, r, nil, http.StatusForbidden, "Client certificate required", err.Error())
		return
	}
	if err := parseForm(w, r); err != nil {
		c.errorPage(w, r, nil, http.StatusBadRequest, "Sign-in refused", "The form could not be read.")
		return
	}
	next := safeNext(r.PostFormValue("next"))
	if !checkCSRF(r, cookieValue(r, signInCookie)) {
		c.log.Warn("console: sign-in form post without its CSRF token refused")
		c.signInForm(w, r, http.StatusForbidden, next, "The sign-in form expired or did not come from this console. Try again.")
		return
	}
	secret := strings.TrimSpace(r.PostFormValue("token"))
	if secret == "" {
		c.signInForm(w, r, http.StatusUnauthorized, next, "Paste an admin token (create one with 'pinset token new').")
		return
	}
	name, err := c.srv.AdminToken(r.Context(), secret)
	if errors.Is(err, server.ErrInvalidToken) {
		c.log.Info("console sign-in refused: invalid or revoked token")
		c.signInForm(w, r, http.StatusUnauthorized, next, "Invalid or revoked token.")
		return
	}
	if err != nil {
		c.internalError(w, r, nil, err)
		return
	}
	s, err := c.sessions.create(name)
	if err != nil {
		c.internalError(w, r, nil, err)
		return
	}
	c.setCookie(w, r, signInCookie, "", Prefix+"signin", time.Time{})
	c.setCookie(w, r, SessionCookie, s.id, Prefix, s.expires)
	c.audit(r.Context(), s, "sign-in")
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (c *Console) handleSignOut(w http.ResponseWriter, r *http.Request, s *session) {
	c.sessions.drop(s.id)
	c.setCookie(w, r, SessionCookie, "", Prefix, time.Time{})
	c.audit(r.Context(), s, "sign-out")
	http.Redirect(w, r, Prefix+"signin", http.StatusSeeOther)
}

// audit logs one console action at INFO with the session's token name and
// the console's action counter.
func (c *Console) audit(ctx context.Context, s *session, action string, attrs ...any) {
	n := c.actions.Add(1)
	args := append([]any{"action", action, "token", s.token, "n", n}, attrs...)
	c.log.InfoContext(ctx, "console action", args...)
}
