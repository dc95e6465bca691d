package console

import (
	"bytes"
	"fmt"
	"html/template"
	"net/http"
	"strconv"
	"strings"
	"time"

	"pinset.dev/pinset/pin"
)

// page is what every template gets.
type page struct {
	Title   string
	App     string // the app the page is about, for the app's tabs
	Tab     string // the app tab shown
	Session *session
	Now     time.Time
	Data    any
}

// CSRF is the session's CSRF token for the page's forms.
func (p *page) CSRF() string {
	if p.Session == nil {
		return ""
	}
	return p.Session.csrf
}

// Token is the signed-in token's name.
func (p *page) Token() string {
	if p.Session == nil {
		return ""
	}
	return p.Session.token
}

var pageNames = []string{"signin", "error", "apps", "app", "history", "coverage", "reports", "report",
	"rotation", "publish", "alerts", "tokens"}

var funcs = template.FuncMap{
	"utc":      fmtTime,
	"relative": relative,
	"pin":      func(p pin.Pin) string { return p.Format(pin.OkHttp) },
	"short":    shortPin,
	"inc":      func(i int) int { return i + 1 },
	"pct":      func(f float64) string { return strconv.FormatFloat(100*f, 'f', 1, 64) + "%" },
	"seconds":  func(n int64) string { return strings.TrimPrefix(relative(time.Unix(n, 0), time.Unix(0, 0)), "in ") },
	"lasted":   func(from, to time.Time) string { return strings.TrimPrefix(relative(to, from), "in ") },
}

func parsePages() (map[string]*template.Template, error) {
	out := map[string]*template.Template{}
	for _, name := range pageNames {
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("console: template %s: %w", name, err)
		}
		out[name] = t
	}
	return out, nil
}

// render executes a page into a buffer first, so that a template error
// becomes a clean 500 instead of half a page.
func (c *Console) render(w http.ResponseWriter, r *http.Request, status int, name string, p *page) {
	p.Now = c.now()
	var b bytes.Buffer
	if err := c.pages[name].Execute(&b, p); err != nil {
		c.log.Error("console: rendering", "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(b.Bytes())
}

type errorData struct {
	Heading string
	Message string
}

func (c *Console) errorPage(w http.ResponseWriter, r *http.Request, s *session, status int, heading, msg string) {
	c.render(w, r, status, "error", &page{Title: heading, Session: s, Data: errorData{heading, msg}})
}

func (c *Console) internalError(w http.ResponseWriter, r *http.Request, s *session, err error) {
	c.log.Error("console: internal error", "path", r.URL.Path, "err", err)
	c.errorPage(w, r, s, http.StatusInternalServerError, "Internal error", "Something failed on the server; the log says what.")
}

func (c *Console) notFound(w http.ResponseWriter, r *http.Request, s *session, what string) {
	c.errorPage(w, r, s, http.StatusNotFound, "Not found", what)
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04 UTC")
}

// relative says how far t is from now, in the largest sensible unit.
func relative(t, now time.Time) string {
	if t.IsZero() {
		return ""
	}
	d := t.Sub(now)
	if d > -time.Minute && d < time.Minute {
		return "just now"
	}
	future := d >= 0
	if !future {
		d = -d
	}
	var s string
	switch {
	case d < time.Hour:
		s = plural(int(d/time.Minute), "minute")
	case d < 48*time.Hour:
		s = plural(int(d/time.Hour), "hour")
	default:
		s = plural(int(d/(24*time.Hour)), "day")
	}
	if future {
		return "in " + s
	}
	return s + " ago"
}

func plural(n int, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return strconv.Itoa(n) + " " + unit + "s"
}

// shortPin is a pin's first 12 base64 characters, for tables; the full
// pin is in the title attribute.
func shortPin(s string) string {
	const prefix = "sha256/"
	if len(s) > len(prefix)+12 && s[:len(prefix)] == prefix {
		return s[:len(prefix)+12] + "…"
	}
	if len(s) > 20 {
		return s[:20] + "…"
	}
	return s
}
