package server

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"pinset.dev/pinset/internal/netkey"
	"pinset.dev/pinset/pin"
	"pinset.dev/pinset/policy"
	"pinset.dev/pinset/store"
	"pinset.dev/pinset/telemetry"
	"pinset.dev/pinset/trust"
)

// Adoption telemetry (docs/api.md, "Adoption"). Every manifest fetch is
// noted in memory, keyed by (app, install), the latest fetch winning; a
// timer flushes the notes to the store in one transaction (an upsert per
// install), so the manifest path costs a header parse and a map insert.
// Fetches without a valid Pinset-Telemetry header are keyed by the
// client's address hashed with a salt that is random, held only in memory
// and replaced every UTC day, and counted at the version their
// If-None-Match names.
//
// Every sighting also carries its client network (IPv4 /24, IPv6 /64)
// hashed under the same salt, and one network counts at most
// MaxInstallsPerNetwork distinct installs per window (the store enforces
// it when writing: store.RecordInstallsCapped): made-up install ids sent
// from a few networks cannot outnumber the fleet (docs/rotation.md,
// "Forged telemetry").

// AdoptionConfig configures adoption telemetry.
type AdoptionConfig struct {
	// Window is how long an install counts as active after its last
	// manifest fetch; default DefaultAdoptionWindow. Older rows are
	// deleted.
	Window time.Duration
	// FlushInterval is how long fetches wait in memory before they are
	// written (default 1s): at most this much is lost on a crash.
	FlushInterval time.Duration
	// Off disables recording (the adoption endpoint then reports what
	// was recorded before).
	Off bool
	// Rand is the source of the daily address salt; nil: crypto/rand.
	Rand io.Reader
	// MaxInstallsPerNetwork is the most distinct installs one client
	// network (IPv4 /24, IPv6 /64) has counted per window; further
	// sightings are not counted, and are counted as capped. Default
	// DefaultMaxInstallsPerNetwork.
	MaxInstallsPerNetwork int
}

// DefaultAdoptionWindow is the default sliding window of active installs.
const DefaultAdoptionWindow = 7 * 24 * time.Hour

// DefaultMaxInstallsPerNetwork is the default cap of installs counted per
// client network and window. Carrier-grade NAT puts many phones behind one
// address, so a cap undercounts holders and non-holders of that network
// alike; the rotation then waits longer (min-clients, the per-network
// gate), which is the safe direction. 64 keeps an office or a NAT pool
// mostly counted while a forger needs a network per 64 made-up installs.
const DefaultMaxInstallsPerNetwork = 64

// Limits of the in-memory notes.
const (
	adoptionMaxPending = 100_000 // beyond: dropped and counted
	adoptionFlushAt    = 10_000  // flush at once from this many
	adoptionPruneEvery = time.Hour
	maxCachedManifests = 1024
)

// anonPrefix starts the keys of clients without telemetry; SDK install ids
// are bare hex, so the two never collide.
const anonPrefix = "a-"

type fetchNote struct {
	app, addr, etag string
	network         string // the address's /24 or /64, never stored
	info            telemetry.Info
	ok              bool // info is valid
	seen            time.Time
}

type adoption struct {
	s      *Server
	window time.Duration
	perNet int
	flushI time.Duration
	rand   io.Reader

	mu      sync.Mutex
	pending map[string]fetchNote
	timer   *time.Timer

	flushMu sync.Mutex // serialises flushes; guards the fields below
	saltDay string
	salt    []byte
	pruned  time.Time
	etagIdx map[string]*etagIndex

	cappedMu sync.Mutex
	capped   map[string]int64 // per app, since the service started

	manMu    sync.Mutex
	manCache sync.Map // "app/version" -> []policy.Policy
	nman     int      // guarded by manMu

	headers                   *prometheus.CounterVec
	hValid, hInvalid, hAbsent prometheus.Counter
	dropped                   prometheus.Counter
	cappedTotal               prometheus.Counter
	flushes                   *prometheus.CounterVec
	active                    *prometheus.Desc
	ratio                     *prometheus.Desc
}

type etagIndex struct {
	version int64            // the app's manifest version when built
	tags    map[string]int64 // first 32 hex digits of SHA-256 -> version
}

func (s *Server) initAdoption() error {
	c := s.cfg.Adoption
	a := &adoption{s: s, window: c.Window, flushI: c.FlushInterval, rand: c.Rand, perNet: c.MaxInstallsPerNetwork,
		pending: map[string]fetchNote{}, etagIdx: map[string]*etagIndex{}, capped: map[string]int64{}}
	if a.perNet <= 0 {
		a.perNet = DefaultMaxInstallsPerNetwork
	}
	if a.window <= 0 {
		a.window = DefaultAdoptionWindow
	}
	if a.flushI <= 0 {
		a.flushI = time.Second
	}
	if a.rand == nil {
		a.rand = rand.Reader
	}
	a.headers = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "pinset_telemetry_headers_total", Help: "Manifest fetches by telemetry header: valid, invalid (counted as absent) or absent.",
	}, []string{"result"})
	a.hValid, a.hInvalid, a.hAbsent = a.headers.WithLabelValues("valid"), a.headers.WithLabelValues("invalid"), a.headers.WithLabelValues("absent")
	a.dropped = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "pinset_adoption_dropped_total", Help: "Manifest fetches not counted for adoption because too many were waiting to be written.",
	})
	a.cappedTotal = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "pinset_adoption_sightings_capped_total", Help: "Manifest fetches not counted for adoption because their client network already had adoption.max_installs_per_network installs counted in the window.",
	})
	a.flushes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "pinset_adoption_writes_total", Help: "Adoption telemetry writes to the store by result.",
	}, []string{"result"})
	a.flushes.WithLabelValues("written")
	a.flushes.WithLabelValues("failed")
	a.active = prometheus.NewDesc("pinset_adoption_active_clients", "Distinct installs that fetched the manifest within the adoption window, per app.", []string{"app"}, nil)
	a.ratio = prometheus.NewDesc("pinset_pin_adoption_ratio", "Fraction of active installs whose manifest holds the pin, per app and pin.", []string{"app", "pin"}, nil)
	for _, col := range []prometheus.Collector{a.headers, a.dropped, a.cappedTotal, a.flushes, adoptionCollector{a}} {
		if err := s.reg.Register(col); err != nil {
			return err
		}
	}
	s.adoption = a
	return nil
}

// recordFetch notes one manifest fetch. It does not touch the store.
func (s *Server) recordFetch(r *http.Request, app string) {
	a := s.adoption
	if s.cfg.Adoption.Off {
		return
	}
	n := fetchNote{app: app, seen: s.now(), network: clientNetwork(r)}
	var key string
	if lines := r.Header[telemetry.Header]; len(lines) > 0 {
		info, err := telemetry.Parse(lines)
		if err == nil {
			n.info, n.ok, key = info, true, info.ID
			a.hValid.Inc()
		} else {
			a.hInvalid.Inc()
		}
	} else {
		a.hAbsent.Inc()
	}
	if !n.ok {
		n.addr = clientAddr(r)
		key = "\x00" + n.addr
		if inm := r.Header["If-None-Match"]; len(inm) > 0 {
			n.etag = inm[0]
		}
	}
	key = app + "\x00" + key
	a.mu.Lock()
	if _, ok := a.pending[key]; !ok && len(a.pending) >= adoptionMaxPending {
		a.mu.Unlock()
		a.dropped.Inc()
		return
	}
	a.pending[key] = n
	size := len(a.pending)
	if a.timer == nil {
		a.timer = time.AfterFunc(a.flushI, func() { a.flush(context.Background()) })
	} else if size == adoptionFlushAt {
		a.timer.Reset(0)
	}
	a.mu.Unlock()
}

// FlushAdoption writes the fetches noted so far to the store now (they are
// otherwise written within AdoptionConfig.FlushInterval).
func (s *Server) FlushAdoption(ctx context.Context) error { return s.adoption.flush(ctx) }

func (a *adoption) flush(ctx context.Context) error {
	a.flushMu.Lock()
	defer a.flushMu.Unlock()
	a.mu.Lock()
	notes := a.pending
	a.pending = make(map[string]fetchNote, len(notes))
	if a.timer != nil {
		a.timer.Stop()
		a.timer = nil
	}
	a.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	now := a.s.now()
	var errs []error
	if len(notes) > 0 {
		rows := make([]store.InstallSighting, 0, len(notes))
		for _, n := range notes {
			row := store.InstallSighting{App: n.app, Seen: n.seen, Network: a.networkKey(n.app, n.network, n.seen)}
			if n.ok {
				row.Install, row.RootVersion, row.ManifestVersion, row.SDK = n.info.ID, int64(n.info.RootVersion), int64(n.info.ManifestVersion), n.info.SDK
			} else {
				row.Install = a.anonKey(n.app, n.addr, n.seen)
				v, err := a.etagVersion(ctx, n.app, n.etag)
				if err != nil {
					errs = append(errs, err)
				}
				row.ManifestVersion = v
			}
			rows = append(rows, row)
		}
		capped, err := a.s.store.RecordInstallsCapped(ctx, rows, store.NetworkLimit{Max: a.perNet, Since: now.Add(-a.window)})
		if err != nil {
			a.flushes.WithLabelValues("failed").Inc()
			a.s.log.Error("adoption telemetry not written", "fetches", len(rows), "err", err)
			errs = append(errs, err)
		} else {
			a.flushes.WithLabelValues("written").Inc()
			a.noteCapped(capped)
		}
	}
	if now.Sub(a.pruned) >= adoptionPruneEvery {
		if _, err := a.s.store.PruneInstalls(ctx, now.Add(-a.window)); err != nil {
			errs = append(errs, err)
		} else {
			a.pruned = now
		}
	}
	return errors.Join(errs...)
}

// noteCapped counts the sightings the store left out: the metric, and per
// app for the adoption answer.
func (a *adoption) noteCapped(capped map[string]int64) {
	a.cappedMu.Lock()
	defer a.cappedMu.Unlock()
	for app, n := range capped {
		a.cappedTotal.Add(float64(n))
		a.capped[app] += n
		a.s.log.Warn("adoption sightings over adoption.max_installs_per_network not counted", "app", app, "sightings", n, "max_installs_per_network", a.perNet)
	}
}

// networkKey is the key of a client network: the anonymous key of its
// prefix, so that networks can be told apart within a salt day and never
// named.
func (a *adoption) networkKey(app, network string, at time.Time) string {
	return "n-" + strings.TrimPrefix(a.anonKey(app, "net\x00"+network, at), anonPrefix)
}

// clientNetwork is the network a client counts under: the /24 of its
// IPv4 address, the /64 of its IPv6 address.
func clientNetwork(r *http.Request) string {
	ip, host := remoteIP(r)
	if !ip.IsValid() {
		return host // unparseable: the address itself
	}
	return netkey.Network(ip)
}

// anonKey derives the key of a client without telemetry: HMAC-SHA256 of
// app and address under the day's salt. The salt never leaves memory and
// is replaced each UTC day, after which nobody can tell which address a
// key stood for.
func (a *adoption) anonKey(app, addr string, at time.Time) string {
	day := at.UTC().Format("2006-01-02")
	// Only a later day replaces the salt: a flush holding fetches from
	// both sides of midnight (in any order) would otherwise draw a new
	// salt at each switch, and one address or network would count under
	// several keys. Late fetches of the day before take the new salt.
	if day > a.saltDay || a.salt == nil {
		salt := make([]byte, 32)
		if _, err := io.ReadFull(a.rand, salt); err != nil {
			salt = nil // counted under an unsalted hash only if the rand source fails
		}
		a.salt, a.saltDay = salt, day
	}
	m := hmac.New(sha256.New, a.salt)
	m.Write([]byte(app))
	m.Write([]byte{0})
	m.Write([]byte(addr))
	return anonPrefix + hex.EncodeToString(m.Sum(nil)[:15])
}

// etagVersion maps an If-None-Match value to the manifest version whose
// ETag it names (the server's ETags are the first 32 hex digits of the
// body's SHA-256, "-gz" for the gzip form); 0 when it names none.
func (a *adoption) etagVersion(ctx context.Context, app, inm string) (int64, error) {
	tag, _, _ := strings.Cut(inm, ",")
	tag = strings.TrimPrefix(strings.TrimSpace(tag), "W/")
	tag = strings.TrimSuffix(strings.Trim(tag, `"`), "-gz")
	if len(tag) != 32 {
		return 0, nil
	}
	cur, err := a.s.store.App(ctx, app)
	if err != nil {
		return 0, err
	}
	idx := a.etagIdx[app]
	if idx == nil || idx.version != cur.ManifestVersion {
		list, err := a.s.store.Manifests(ctx, app)
		if err != nil {
			return 0, err
		}
		idx = &etagIndex{version: cur.ManifestVersion, tags: make(map[string]int64, len(list))}
		for _, d := range list {
			if len(d.SHA256) >= 32 {
				idx.tags[d.SHA256[:32]] = d.Version
			}
		}
		a.etagIdx[app] = idx
	}
	return idx.tags[tag], nil
}

// hosts returns the host policies of one stored manifest version (nil
// when it is not in the history, version 0 included: such installs hold
// no pin as far as adoption is concerned).
func (a *adoption) hosts(ctx context.Context, app string, version int64) ([]policy.Policy, error) {
	if version <= 0 {
		return nil, nil
	}
	key := app + "/" + strconv.FormatInt(version, 10)
	if v, ok := a.manCache.Load(key); ok {
		return v.([]policy.Policy), nil
	}
	d, err := a.s.store.ManifestVersion(ctx, app, version)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	m, err := trust.DecodeManifestUnverified(d.Body)
	if err != nil {
		return nil, err
	}
	a.manMu.Lock()
	if a.nman < maxCachedManifests {
		a.nman++
		a.manCache.Store(key, m.Hosts)
	}
	a.manMu.Unlock()
	return m.Hosts, nil
}

// AdoptionReport is the answer of GET /v1/admin/apps/{app}/adoption.
type AdoptionReport struct {
	App           string               `json:"app"`
	WindowSeconds int64                `json:"window_seconds"`
	ActiveClients int64                `json:"active_clients"`
	Versions      []store.VersionCount `json:"versions"`
	Pins          []PinAdoption        `json:"pins"`
	// Networks is the number of distinct client networks (IPv4 /24,
	// IPv6 /64, per salt day) the active installs were seen from.
	Networks int64 `json:"networks"`
	// MaxInstallsPerNetwork is the cap of installs counted per network
	// and window; CappedSightings the fetches it left out since the
	// service started.
	MaxInstallsPerNetwork int   `json:"max_installs_per_network"`
	CappedSightings       int64 `json:"capped_sightings"`

	held     map[int64][]policy.Policy
	networks []store.NetworkVersionCount
}

// PinAdoption is one pin's share of the active installs.
type PinAdoption struct {
	Pin      string  `json:"pin"`
	Clients  int64   `json:"clients"`
	Fraction float64 `json:"fraction"`
	// NetworkFraction is the pin's adoption with every client network
	// weighing the same: the mean over networks of the fraction of the
	// network's installs holding it.
	NetworkFraction float64 `json:"network_fraction"`
}

// Adoption computes the adoption of app's pins over the window ending now:
// every pin of a manifest held by an active install, and every pin of the
// current manifest (a just-announced pin shows with 0 clients).
func (s *Server) Adoption(ctx context.Context, app string) (*AdoptionReport, error) {
	a := s.adoption
	counts, err := s.store.Adoption(ctx, app, s.now().Add(-a.window))
	if err != nil {
		return nil, err
	}
	rep := &AdoptionReport{App: app, WindowSeconds: int64(a.window / time.Second), ActiveClients: counts.Active,
		Versions: counts.Versions, Pins: []PinAdoption{}, MaxInstallsPerNetwork: a.perNet,
		held: map[int64][]policy.Policy{}, networks: counts.Networks}
	a.cappedMu.Lock()
	rep.CappedSightings = a.capped[app]
	a.cappedMu.Unlock()
	clients := map[pin.Pin]int64{}
	for _, v := range counts.Versions {
		hosts, err := a.hosts(ctx, app, v.ManifestVersion)
		if err != nil {
			return nil, err
		}
		rep.held[v.ManifestVersion] = hosts
		for p := range pinsOf(hosts) {
			clients[p] += v.Clients
		}
	}
	if cur, err := s.store.App(ctx, app); err == nil && cur.ManifestVersion > 0 {
		hosts, err := a.hosts(ctx, app, cur.ManifestVersion)
		if err != nil {
			return nil, err
		}
		for p := range pinsOf(hosts) {
			clients[p] += 0
		}
	}
	var netShare map[pin.Pin]float64
	rep.Networks, netShare = rep.networkShares(func(hosts []policy.Policy, p pin.Pin) bool { return pinsOf(hosts)[p] })
	for p, n := range clients {
		rep.Pins = append(rep.Pins, PinAdoption{Pin: p.String(), Clients: n, Fraction: fraction(n, counts.Active), NetworkFraction: netShare[p]})
	}
	sort.Slice(rep.Pins, func(i, j int) bool {
		if rep.Pins[i].Clients != rep.Pins[j].Clients {
			return rep.Pins[i].Clients > rep.Pins[j].Clients
		}
		return rep.Pins[i].Pin < rep.Pins[j].Pin
	})
	return rep, nil
}

// HostPinFraction is the share of active installs whose manifest pins p for
// the host pattern (the rotation plan's measure): a pin held for another
// host does not count.
func (r *AdoptionReport) HostPinFraction(pattern string, p pin.Pin) (clients int64, frac float64) {
	for _, v := range r.Versions {
		for _, h := range r.held[v.ManifestVersion] {
			if h.Pattern == pattern && pin.Contains(h.Pins, p) {
				clients += v.Clients
				break
			}
		}
	}
	return clients, fraction(clients, r.ActiveClients)
}

// HostPinNetworkFraction is HostPinFraction with every client network
// weighing the same (the rotation gate's cross-check, docs/rotation.md):
// made-up installs from a few networks move it by at most their share of
// the networks.
func (r *AdoptionReport) HostPinNetworkFraction(pattern string, p pin.Pin) (networks int64, frac float64) {
	networks, shares := r.networkShares(func(hosts []policy.Policy, q pin.Pin) bool {
		for _, h := range hosts {
			if h.Pattern == pattern && pin.Contains(h.Pins, q) {
				return true
			}
		}
		return false
	}, p)
	return networks, shares[p]
}

// networkShares computes, for the pins given (every pin held when none
// is), the mean over the active networks of the fraction of each
// network's installs whose manifest holds the pin (as holds decides).
func (r *AdoptionReport) networkShares(holds func([]policy.Policy, pin.Pin) bool, only ...pin.Pin) (int64, map[pin.Pin]float64) {
	type netCount struct {
		total int64
		held  map[pin.Pin]int64
	}
	nets := map[string]*netCount{}
	var order []string
	for _, c := range r.networks {
		n := nets[c.Network]
		if n == nil {
			n = &netCount{held: map[pin.Pin]int64{}}
			nets[c.Network] = n
			order = append(order, c.Network)
		}
		n.total += c.Clients
		hosts := r.held[c.ManifestVersion]
		pins := only
		if len(only) == 0 {
			pins = nil
			for p := range pinsOf(hosts) {
				pins = append(pins, p)
			}
		}
		for _, p := range pins {
			if holds(hosts, p) {
				n.held[p] += c.Clients
			}
		}
	}
	out := map[pin.Pin]float64{}
	if len(order) == 0 {
		return 0, out
	}
	for _, k := range order {
		for p, h := range nets[k].held {
			out[p] += fraction(h, nets[k].total)
		}
	}
	for p := range out {
		out[p] /= float64(len(order))
	}
	return int64(len(order)), out
}

func pinsOf(hosts []policy.Policy) map[pin.Pin]bool {
	out := map[pin.Pin]bool{}
	for _, h := range hosts {
		for _, p := range h.Pins {
			out[p] = true
		}
	}
	return out
}

func fraction(n, of int64) float64 {
	if of == 0 {
		return 0
	}
	return float64(n) / float64(of)
}

func (s *Server) handleAdoption(w http.ResponseWriter, r *http.Request) {
	app := r.PathValue("app")
	if !validApp(app) {
		writeError(w, http.StatusNotFound, "not_found", "no such app")
		return
	}
	if _, err := s.store.App(r.Context(), app); errors.Is(err, store.ErrNotFound) {
		writeError(w, http.StatusNotFound, "not_found", "no such app: "+app)
		return
	}
	rep, err := s.Adoption(r.Context(), app)
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, rep)
}

// adoptionCollector exports the adoption gauges at scrape time; every
// label value comes from the store (app ids, pins of stored manifests).
type adoptionCollector struct{ a *adoption }

func (c adoptionCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.a.active
	ch <- c.a.ratio
}

func (c adoptionCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	apps, err := c.a.s.store.Apps(ctx)
	if err != nil {
		return
	}
	for _, app := range apps {
		rep, err := c.a.s.Adoption(ctx, app.ID)
		if err != nil {
			continue
		}
		ch <- prometheus.MustNewConstMetric(c.a.active, prometheus.GaugeValue, float64(rep.ActiveClients), app.ID)
		for _, p := range rep.Pins {
			ch <- prometheus.MustNewConstMetric(c.a.ratio, prometheus.GaugeValue, p.Fraction, app.ID, p.Pin)
		}
	}
}
