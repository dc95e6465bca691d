package console

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"sort"
	"strconv"
	"time"

	"pinset.dev/pinset/alert"
	"pinset.dev/pinset/pin"
	"pinset.dev/pinset/policy"
	"pinset.dev/pinset/server"
	"pinset.dev/pinset/store"
	"pinset.dev/pinset/trust"
)

// appRow is one line of the apps page.
type appRow struct {
	store.App
	RootExpires     time.Time
	ManifestExpires time.Time
	Hosts           int
	Refused         int
	Problems        int
	Probed          bool
	Error           string
}

func (c *Console) handleApps(w http.ResponseWriter, r *http.Request, s *session) {
	apps, err := c.st.Apps(r.Context())
	if err != nil {
		c.internalError(w, r, s, err)
		return
	}
	rows := make([]appRow, 0, len(apps))
	for _, a := range apps {
		row := appRow{App: a}
		v, err := c.loadApp(r.Context(), a.ID)
		if err != nil {
			row.Error = err.Error()
		} else {
			if v.Root != nil {
				row.RootExpires = v.Root.Expires
			}
			if v.Manifest != nil {
				row.ManifestExpires, row.Hosts = v.Manifest.Expires, len(v.Manifest.Hosts)
			}
			row.Probed = len(v.Probes) > 0
			for _, r := range v.Probes {
				if refusedRow(r) {
					row.Refused++
				}
				if problemRow(r) {
					row.Problems++
				}
			}
		}
		rows = append(rows, row)
	}
	c.render(w, r, http.StatusOK, "apps", &page{Title: "Apps", Session: s, Data: rows})
}

// appView is what the app pages share: the current documents, decoded,
// and the newest monitor round.
type appView struct {
	App         store.App
	RootDoc     store.Document
	Root        *trust.Root
	ManifestDoc store.Document
	Manifest    *trust.Manifest
	Set         *policy.Set
	// Probes are the rows of the newest monitor round; their detail is
	// decoded (decodeProbes) only where a page shows it.
	Probes   []store.ProbeResult
	ProbedAt time.Time
}

// refusedRow and problemRow judge a stored probe row by its flags alone
// (the monitor stores ok = not unreachable, covered = neither refused nor
// unreachable; a host that did not resolve has no address).
func refusedRow(r store.ProbeResult) bool { return r.Addr != "" && r.OK && !r.Covered }
func problemRow(r store.ProbeResult) bool { return !r.OK || !r.Covered }

// errNoApp: no such app.
var errNoApp = errors.New("no such app")

func (c *Console) loadApp(ctx context.Context, id string) (*appView, error) {
	a, err := c.st.App(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, errNoApp
	}
	if err != nil {
		return nil, err
	}
	v := &appView{App: a}
	if v.RootDoc, err = c.st.LatestRoot(ctx, id); err == nil {
		// The service verified the root before storing it.
		if v.Root, _, err = trust.DecodeRootUnverified(v.RootDoc.Body); err != nil {
			return nil, err
		}
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	if v.ManifestDoc, err = c.st.Manifest(ctx, id); err == nil {
		if v.Manifest, err = trust.DecodeManifestUnverified(v.ManifestDoc.Body); err != nil {
			return nil, err
		}
		v.Set, _ = policy.NewSet(v.Manifest.Hosts) // verified by the service; nil matches nothing
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	if v.Probes, err = c.st.LatestProbes(ctx, id); err != nil {
		return nil, err
	}
	if len(v.Probes) > 0 {
		v.ProbedAt = v.Probes[0].Time
	}
	return v, nil
}

func (c *Console) appOr404(w http.ResponseWriter, r *http.Request, s *session) (*appView, bool) {
	v, err := c.loadApp(r.Context(), r.PathValue("app"))
	if errors.Is(err, errNoApp) {
		c.notFound(w, r, s, "No app "+strconv.Quote(r.PathValue("app"))+". Publish its root first: pinset publish --root root.json.")
		return nil, false
	}
	if err != nil {
		c.internalError(w, r, s, err)
		return nil, false
	}
	return v, true
}

// hostRow is one host policy on the app page.
type hostRow struct {
	Policy    policy.Policy
	Pins      []LabelledPin
	Addresses int
	Refused   int
	Expires   time.Time // the earliest leaf expiry among its addresses
}

type appData struct {
	*appView
	Hosts []hostRow
	Plans int
	// Keys of the root's roles.
	RootKeys, PinsKeys []string
}

func (c *Console) handleApp(w http.ResponseWriter, r *http.Request, s *session) {
	v, ok := c.appOr404(w, r, s)
	if !ok {
		return
	}
	d := appData{appView: v}
	next := map[string]map[pin.Pin]bool{}
	plans, err := c.srv.Rotations(r.Context(), v.App.ID, true)
	if err != nil {
		c.internalError(w, r, s, err)
		return
	}
	d.Plans = len(plans)
	for _, p := range plans {
		np, err := pin.Parse(p.NextPin)
		if err != nil {
			continue
		}
		if next[p.Host] == nil {
			next[p.Host] = map[pin.Pin]bool{}
		}
		next[p.Host][np] = true
	}
	byPattern := map[string][]addrResult{}
	for _, a := range decodeProbes(v.Probes, v.Set) {
		byPattern[a.Pattern] = append(byPattern[a.Pattern], a)
	}
	if v.Manifest != nil {
		for _, h := range v.Manifest.Hosts {
			addrs := byPattern[h.Pattern]
			row := hostRow{Policy: h, Pins: labelPins(h, addrs, next[h.Pattern]), Addresses: len(addrs)}
			for _, a := range addrs {
				if a.Refused() {
					row.Refused++
				}
				if !a.NotAfter.IsZero() && (row.Expires.IsZero() || a.NotAfter.Before(row.Expires)) {
					row.Expires = a.NotAfter
				}
			}
			d.Hosts = append(d.Hosts, row)
		}
	}
	if v.Root != nil {
		d.RootKeys, d.PinsKeys = v.Root.RootRole.KeyIDs, v.Root.PinsRole.KeyIDs
	}
	c.render(w, r, http.StatusOK, "app", &page{Title: v.App.ID, App: v.App.ID, Tab: "manifest", Session: s, Data: d})
}

type historyData struct {
	App      string
	Versions []store.Document
	From, To int64
	Diff     []HostDiff
	Error    string
}

func (c *Console) handleHistory(w http.ResponseWriter, r *http.Request, s *session) {
	app := r.PathValue("app")
	if _, err := c.st.App(r.Context(), app); errors.Is(err, store.ErrNotFound) {
		c.notFound(w, r, s, "No app "+strconv.Quote(app)+".")
		return
	}
	list, err := c.st.Manifests(r.Context(), app) // newest first
	if err != nil {
		c.internalError(w, r, s, err)
		return
	}
	d := historyData{App: app, Versions: list}
	if len(list) >= 2 {
		d.To, d.From = list[0].Version, list[1].Version
	}
	q := r.URL.Query()
	if v, err := strconv.ParseInt(q.Get("from"), 10, 64); err == nil {
		d.From = v
	}
	if v, err := strconv.ParseInt(q.Get("to"), 10, 64); err == nil {
		d.To = v
	}
	if d.From > 0 && d.To > 0 {
		from, err1 := c.manifestHosts(r.Context(), app, d.From)
		to, err2 := c.manifestHosts(r.Context(), app, d.To)
		if err := errors.Join(err1, err2); err != nil {
			d.Error = err.Error()
		} else {
			d.Diff = diffManifests(from, to)
		}
	}
	c.render(w, r, http.StatusOK, "history", &page{Title: app + ": history", App: app, Tab: "history", Session: s, Data: d})
}

func (c *Console) manifestHosts(ctx context.Context, app string, version int64) ([]policy.Policy, error) {
	doc, err := c.st.ManifestVersion(ctx, app, version)
	if errors.Is(err, store.ErrNotFound) {
		return nil, errors.New("no manifest version " + strconv.FormatInt(version, 10))
	}
	if err != nil {
		return nil, err
	}
	m, err := trust.DecodeManifestUnverified(doc.Body)
	if err != nil {
		return nil, err
	}
	return m.Hosts, nil
}

// coveragePageSize is how many addresses one coverage page lists.
const coveragePageSize = 200

// timelineRounds is how many monitor rounds an address's timeline shows.
const timelineRounds = 48

type coverageRow struct {
	addrResult
	Timeline []timelinePoint
}

type coverageData struct {
	*appView
	Rows                                  []coverageRow
	Total, Refused, Unreachable, Accepted int
	Page, Pages                           int
	Pattern                               string
}

func (c *Console) handleCoverage(w http.ResponseWriter, r *http.Request, s *session) {
	v, ok := c.appOr404(w, r, s)
	if !ok {
		return
	}
	d := coverageData{appView: v, Page: 1}
	rows := append([]store.ProbeResult(nil), v.Probes...)
	// Problems first, then by host and address (the store's order).
	sort.SliceStable(rows, func(i, j int) bool { return problemRow(rows[i]) && !problemRow(rows[j]) })
	for _, r := range rows {
		d.Total++
		switch {
		case refusedRow(r):
			d.Refused++
		case problemRow(r):
			d.Unreachable++
		default:
			d.Accepted++
		}
	}
	d.Pages = (len(rows) + coveragePageSize - 1) / coveragePageSize
	if p, err := strconv.Atoi(r.URL.Query().Get("page")); err == nil && p >= 1 && p <= d.Pages {
		d.Page = p
	}
	lo := min((d.Page-1)*coveragePageSize, len(rows))
	hi := min(lo+coveragePageSize, len(rows))
	shown := decodeProbes(rows[lo:hi], v.Set)
	tl, err := c.timelines(r.Context(), v.App.ID, shown)
	if err != nil {
		c.internalError(w, r, s, err)
		return
	}
	for _, a := range shown {
		d.Rows = append(d.Rows, coverageRow{addrResult: a, Timeline: tl[addrKey(a.Host, a.Port, a.Addr)]})
	}
	c.render(w, r, http.StatusOK, "coverage", &page{Title: v.App.ID + ": coverage", App: v.App.ID, Tab: "coverage", Session: s, Data: d})
}

// timelinePoint is one monitor round of one address.
type timelinePoint struct {
	Time    time.Time
	Verdict string // "accepted", "refused", "unreachable"
}

func addrKey(host string, port int, addr string) string {
	return host + "\x00" + strconv.Itoa(port) + "\x00" + addr
}

// timelines reads the last timelineRounds monitor rounds of the hosts of
// the addresses shown, one query per host.
func (c *Console) timelines(ctx context.Context, app string, shown []addrResult) (map[string][]timelinePoint, error) {
	perHost := map[string]int{}
	var hosts []string
	for _, a := range shown {
		if perHost[a.Host] == 0 {
			hosts = append(hosts, a.Host)
		}
		perHost[a.Host]++
	}
	out := map[string][]timelinePoint{}
	for _, h := range hosts {
		rows, err := c.st.ProbeTimeline(ctx, app, h, timelineRounds*perHost[h])
		if err != nil {
			return nil, err
		}
		for _, r := range rows {
			v := "accepted"
			switch {
			case !r.OK:
				v = "unreachable"
			case !r.Covered:
				v = "refused"
			}
			k := addrKey(r.Host, r.Port, r.Addr)
			out[k] = append(out[k], timelinePoint{Time: r.Time, Verdict: v})
		}
	}
	for k, pts := range out {
		if len(pts) > timelineRounds {
			out[k] = pts[len(pts)-timelineRounds:]
		}
	}
	return out, nil
}

type reportsData struct {
	App     string
	Query   store.ReportQuery
	Agg     store.Aggregates
	AggAt   time.Time // when Agg was computed (aggCache)
	Reports []store.StoredReport
	Chart   chart
	Days    int
}

// reportDays is the window of the reports page.
const reportDays = 30

func (c *Console) handleReports(w http.ResponseWriter, r *http.Request, s *session) {
	app := r.PathValue("app")
	if _, err := c.st.App(r.Context(), app); errors.Is(err, store.ErrNotFound) {
		c.notFound(w, r, s, "No app "+strconv.Quote(app)+".")
		return
	}
	q := r.URL.Query()
	now := c.now().UTC()
	until := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC).AddDate(0, 0, 1)
	rq := store.ReportQuery{App: app, Platform: q.Get("platform"), AppVersion: q.Get("app_version"),
		Since: until.AddDate(0, 0, -reportDays), Limit: 50}
	if h := q.Get("host"); h != "" {
		nh, err := policy.NormalizeHost(h)
		if err != nil {
			c.errorPage(w, r, s, http.StatusBadRequest, "Bad filter", "host: "+err.Error())
			return
		}
		rq.Host = nh
	}
	agg, at, err := c.aggs.get(r.Context(), rq)
	if err != nil {
		c.internalError(w, r, s, err)
		return
	}
	reports, err := c.st.Reports(r.Context(), rq)
	if err != nil {
		c.internalError(w, r, s, err)
		return
	}
	d := reportsData{App: app, Query: rq, Agg: agg, AggAt: at, Reports: reports, Days: reportDays,
		Chart: dailyChart(agg.ByDay, rq.Since, until)}
	c.render(w, r, http.StatusOK, "reports", &page{Title: app + ": reports", App: app, Tab: "reports", Session: s, Data: d})
}

type reportData struct {
	ID     int64
	Raw    string
	Pretty bool
	Size   int
}

// maxRawShown caps the raw body shown on the page (the download has all).
const maxRawShown = 256 << 10

func (c *Console) handleReport(w http.ResponseWriter, r *http.Request, s *session) {
	id, raw, ok := c.rawReport(w, r, s)
	if !ok {
		return
	}
	d := reportData{ID: id, Size: len(raw)}
	var v any
	if json.Unmarshal(raw, &v) == nil {
		if b, err := json.MarshalIndent(v, "", "  "); err == nil && len(b) <= maxRawShown {
			d.Raw, d.Pretty = string(b), true
		}
	}
	if d.Raw == "" {
		if len(raw) > maxRawShown {
			raw = raw[:maxRawShown]
		}
		d.Raw = string(raw) // escaped by the template
	}
	c.render(w, r, http.StatusOK, "report", &page{Title: "Report " + strconv.FormatInt(id, 10), Session: s, Data: d})
}

func (c *Console) rawReport(w http.ResponseWriter, r *http.Request, s *session) (int64, []byte, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id < 1 {
		c.notFound(w, r, s, "No such report.")
		return 0, nil, false
	}
	raw, err := c.st.RawReport(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		c.notFound(w, r, s, "No such report (it may have been pruned).")
		return 0, nil, false
	}
	if err != nil {
		c.internalError(w, r, s, err)
		return 0, nil, false
	}
	return id, raw, true
}

func (c *Console) handleRawReport(w http.ResponseWriter, r *http.Request, s *session) {
	id, raw, ok := c.rawReport(w, r, s)
	if !ok {
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", `attachment; filename="report-`+strconv.FormatInt(id, 10)+`.json"`)
	w.Write(raw)
}

type alertsData struct {
	Monitor   bool
	Firing    []alert.Alert
	Resolved  []alert.Alert
	Forgotten int64 // resolved alerts beyond the monitor's history
	// NoHistory: the console was given no resolved alerts (Config.Resolved).
	NoHistory bool
}

func (c *Console) handleAlerts(w http.ResponseWriter, r *http.Request, s *session) {
	d := alertsData{Monitor: c.alerts != nil}
	if c.alerts != nil {
		d.Firing = c.alerts()
	}
	if c.resolved != nil {
		d.Resolved, d.Forgotten = c.resolved()
	} else {
		d.NoHistory = true
	}
	c.render(w, r, http.StatusOK, "alerts", &page{Title: "Alerts", Session: s, Data: d})
}

type planView struct {
	*server.PlanStatus
	Audit    []store.AuditEntry
	Samples  int
	Gauge    chart
	Curve    chart
	Steps    chart
	Terminal bool
}

type rotationData struct {
	App      string
	Plans    []planView
	Adoption *server.AdoptionReport
	Versions chart
	Message  string
	Error    string
}

func (c *Console) handleRotation(w http.ResponseWriter, r *http.Request, s *session) {
	c.rotationPage(w, r, s, http.StatusOK, "", "")
}

func (c *Console) rotationPage(w http.ResponseWriter, r *http.Request, s *session, status int, msg, errMsg string) {
	app := r.PathValue("app")
	if _, err := c.st.App(r.Context(), app); errors.Is(err, store.ErrNotFound) {
		c.notFound(w, r, s, "No app "+strconv.Quote(app)+".")
		return
	}
	plans, err := c.srv.Rotations(r.Context(), app, false)
	if err != nil {
		c.internalError(w, r, s, err)
		return
	}
	d := rotationData{App: app, Message: msg, Error: errMsg}
	for _, p := range plans {
		audit, err := c.st.PlanAudit(r.Context(), p.ID)
		if err != nil {
			c.internalError(w, r, s, err)
			return
		}
		samples, err := c.st.AdoptionSamples(r.Context(), p.ID)
		if err != nil {
			c.internalError(w, r, s, err)
			return
		}
		pv := planView{PlanStatus: p, Audit: audit, Gauge: gaugeChart(p.Adoption, p.Threshold), Steps: stateChart(audit, c.now()),
			Curve: adoptionCurve(samples, p.Threshold), Samples: len(samples), Terminal: p.State.Terminal()}
		d.Plans = append(d.Plans, pv)
	}
	if d.Adoption, err = c.srv.Adoption(r.Context(), app); err != nil {
		c.internalError(w, r, s, err)
		return
	}
	d.Versions = versionChart(d.Adoption.Versions)
	c.render(w, r, status, "rotation", &page{Title: app + ": rotation", App: app, Tab: "rotation", Session: s, Data: d})
}

type tokensData struct {
	Tokens  []store.Token
	Message string
	Error   string
}

func (c *Console) handleTokens(w http.ResponseWriter, r *http.Request, s *session) {
	c.tokensPage(w, r, s, http.StatusOK, "", "")
}

func (c *Console) tokensPage(w http.ResponseWriter, r *http.Request, s *session, status int, msg, errMsg string) {
	ts, err := c.st.Tokens(r.Context())
	if err != nil {
		c.internalError(w, r, s, err)
		return
	}
	c.render(w, r, status, "tokens", &page{Title: "Tokens", Session: s, Data: tokensData{Tokens: ts, Message: msg, Error: errMsg}})
}
