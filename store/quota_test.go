package store

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"pinset.dev/pinset/enforce"
	"pinset.dev/pinset/report"
	"pinset.dev/pinset/report/trustkit"
)

// bigChain makes n certificates of about 1.3 KB DER each (many DNS names),
// leaf first, each issued by the next.
func bigChain(t testing.TB, n int) []*x509.Certificate {
	t.Helper()
	keys := make([]*ecdsa.PrivateKey, n)
	for i := range keys {
		keys[i], _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	}
	certs := make([]*x509.Certificate, n)
	var parent *x509.Certificate
	for i := n - 1; i >= 0; i-- {
		var names []string
		for j := range 43 {
			names = append(names, fmt.Sprintf("host-%02d-%02d.example.com", i, j))
		}
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(int64(i + 1)), Subject: pkix.Name{CommonName: fmt.Sprintf("cert %d", i)},
			DNSNames: names, NotBefore: t0.Add(-time.Hour), NotAfter: t0.Add(365 * 24 * time.Hour), IsCA: i > 0, BasicConstraintsValid: true}
		issuer, signer := tmpl, keys[i]
		if parent != nil {
			issuer, signer = parent, keys[i+1]
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, issuer, &keys[i].PublicKey, signer)
		if err != nil {
			t.Fatal(err)
		}
		certs[i], _ = x509.ParseCertificate(der)
		parent = certs[i]
	}
	return certs
}

// androidPEM writes a certificate as TrustKit-Android does
// (BackgroundReporter.certificateToPem: Base64.DEFAULT, 76-character lines
// each ending in \n, between BEGIN and END lines ending in \n).
func androidPEM(c *x509.Certificate) string {
	b64 := base64.StdEncoding.EncodeToString(c.Raw)
	var b strings.Builder
	b.WriteString("-----BEGIN CERTIFICATE-----\n")
	for i := 0; i < len(b64); i += 76 {
		b.WriteString(b64[i:min(i+76, len(b64))] + "\n")
	}
	b.WriteString("-----END CERTIFICATE-----\n")
	return b.String()
}

// storedBytes measures what the reports and certificates tables hold.
func storedBytes(t *testing.T, s Store) int64 {
	t.Helper()
	length := "length"
	if s.Backend() == "postgres" {
		length = "octet_length"
	}
	db := s.(*sqlStore).db
	var r, c int64
	q := fmt.Sprintf(`SELECT CAST(COALESCE(SUM(%[1]s(raw) + %[1]s(raw_refs) + %[1]s(normalized)), 0) AS BIGINT) FROM reports`, length)
	if err := db.queryRow(context.Background(), q).Scan(&r); err != nil {
		t.Fatal(err)
	}
	if err := db.queryRow(context.Background(), fmt.Sprintf(`SELECT CAST(COALESCE(SUM(%s(der)), 0) AS BIGINT) FROM certificates`, length)).Scan(&c); err != nil {
		t.Fatal(err)
	}
	return r + c
}

func countRows(t *testing.T, s Store, table string) int64 {
	t.Helper()
	var n int64
	if err := s.(*sqlStore).db.queryRow(context.Background(), `SELECT COUNT(*) FROM `+table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// testReportCertificatesOnce: a report of about 63 KB (16 certificates,
// served and validated chain the same) used to be stored as its raw body
// plus a normalised copy repeating every PEM; certificates are now stored
// once, and raw bodies come back byte for byte.
func testReportCertificatesOnce(t *testing.T, open func(...Option) Store) {
	s := open()
	ctx := context.Background()
	chain := bigChain(t, 16)
	exp := trustkit.FromFailure(&enforce.Failure{Host: "api.example.com", Port: 443,
		VerifiedChains: [][]*x509.Certificate{chain}, ServedChain: chain, Time: t0}, trustkit.App{BundleID: "shop", Version: "1"}, t0)
	goBody, err := json.Marshal(exp)
	if err != nil {
		t.Fatal(err)
	}
	// The same failure as TrustKit-Android writes it: 76-column PEM and
	// org.json's \/ for every slash.
	var m map[string]any
	json.Unmarshal(goBody, &m)
	var apems []string
	for _, c := range chain {
		apems = append(apems, androidPEM(c))
	}
	m["app-platform"], m["app-version"] = "ANDROID", "2"
	m["served-certificate-chain"], m["validated-certificate-chain"] = apems, apems
	ab, _ := json.MarshalIndent(m, "", "  ")
	androidBody := []byte(strings.ReplaceAll(string(ab), "/", `\/`))
	if len(goBody) < 60<<10 || len(goBody) > report.MaxSize || len(androidBody) > report.MaxSize {
		t.Fatalf("report sizes %d %d: not the 63 KB case", len(goBody), len(androidBody))
	}
	parse := func(b []byte) *report.Report {
		r, err := report.Parse(b, report.Options{App: "shop", Now: func() time.Time { return t0 }})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	r1 := parse(goBody)
	norm, _ := json.Marshal(r1)
	old := int64(len(goBody) + len(norm)) // what one row held before
	id1, _, err := s.AddReport(ctx, r1, goBody, t0)
	if err != nil {
		t.Fatal(err)
	}
	first := storedBytes(t, s)
	t.Logf("63 KB report: body %d bytes; stored before %d bytes (%.0f KiB), now %d bytes (%.0f KiB)",
		len(goBody), old, float64(old)/1024, first, float64(first)/1024)
	if first > int64(len(goBody))*6/10 {
		t.Errorf("a %d-byte report takes %d bytes: certificates are not stored once", len(goBody), first)
	}
	r2 := parse(androidBody)
	id2, _, err := s.AddReport(ctx, r2, androidBody, t0)
	if err != nil {
		t.Fatal(err)
	}
	second := storedBytes(t, s) - first
	t.Logf("the same chain again (TrustKit-Android spelling, %d bytes): %d more bytes", len(androidBody), second)
	if second > int64(len(androidBody))/4 {
		t.Errorf("a second report with the same chain added %d bytes", second)
	}
	if n := countRows(t, s, "certificates"); n != 16 {
		t.Errorf("%d certificates stored, want 16", n)
	}
	for id, want := range map[int64][]byte{id1: goBody, id2: androidBody} {
		raw, err := s.RawReport(ctx, id)
		if err != nil || string(raw) != string(want) {
			t.Errorf("raw report %d not returned byte for byte (%v)", id, err)
		}
	}
	got, err := s.Reports(ctx, ReportQuery{App: "shop"})
	if err != nil || len(got) != 2 {
		t.Fatalf("reports: %d %v", len(got), err)
	}
	for _, sr := range got {
		if len(sr.Report.ValidatedChain) != 16 || sr.Report.ValidatedChain[3].PEM != r1.ValidatedChain[3].PEM ||
			sr.Report.ServedChain[15].PEM != r1.ServedChain[15].PEM {
			t.Errorf("report %d: chains not restored", sr.ID)
		}
	}
	u, err := s.ReportUsage(ctx, "shop")
	if err != nil || u.Rows != 2 || u.Bytes < second {
		t.Errorf("usage %+v %v", u, err)
	}
}

// failure returns a distinct failure n of the iOS fixture, on day d.
func failure(t *testing.T, n, d int) (*report.Report, []byte) {
	t.Helper()
	r, raw := fixtureReport(t, "trustkit-ios.json", "shop")
	c := *r
	c.Host = fmt.Sprintf("h%d.example.com", n)
	c.Time = t0.Add(time.Duration(d) * 24 * time.Hour)
	c.DedupKey = fmt.Sprintf("%060d%02d%02d", n, d, 0)
	return &c, raw
}

// testReportQuotaRows: with the row quota full, a repeat of a stored
// failure is counted on its row, a stored repeat makes room for a new
// failure, and a new failure with no repeat to give up is refused; every
// drop is counted.
func testReportQuotaRows(t *testing.T, open func(...Option) Store) {
	s := open(WithReportLimits(ReportLimits{MaxRows: 3}))
	ctx := context.Background()
	add := func(n, d int) (int64, bool, error) {
		r, raw := failure(t, n, d)
		return s.AddReport(ctx, r, raw, t0.Add(time.Duration(d)*24*time.Hour))
	}
	a0, _, err := add(1, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := add(1, 1); err != nil { // failure 1 again the next day: its own row
		t.Fatal(err)
	}
	if _, _, err := add(2, 1); err != nil {
		t.Fatal(err)
	}
	// Full. Failure 2 on day 2: counted on its row, not stored.
	id, dup, err := add(2, 2)
	if err != nil || !dup {
		t.Fatalf("repeat at full quota: %d %v %v", id, dup, err)
	}
	// New failure 3: the older row of failure 1 (a repeat) makes room.
	if _, dup, err := add(3, 2); err != nil || dup {
		t.Fatalf("new failure at full quota: %v %v", dup, err)
	}
	if _, err := s.RawReport(ctx, a0); !errors.Is(err, ErrNotFound) {
		t.Errorf("the oldest repeat was not the one evicted: %v", err)
	}
	// New failure 4: nothing left to give up; refused.
	_, _, err = add(4, 2)
	var qe *QuotaError
	if !errors.Is(err, ErrQuota) || !errors.As(err, &qe) || qe.Reason != DropQuotaRows || qe.Limit != 3 {
		t.Fatalf("refusal: %v", err)
	}
	if u, _ := s.ReportUsage(ctx, "shop"); u.Rows != 3 {
		t.Errorf("usage %+v", u)
	}
	if n := countRows(t, s, "reports"); n != 3 {
		t.Errorf("%d rows", n)
	}
	want := map[string]int64{DropDuplicate: 1, DropEvictedRepeat: 1, DropQuotaRows: 1, DropQuotaBytes: 0, DropRetention: 0}
	if got := s.ReportDrops(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("drops %v, want %v", got, want)
	}
	// Arrivals were all counted, the refused one included.
	ev, err := s.ReportEvents(ctx, "shop", t0, t0.Add(72*time.Hour))
	if err != nil || ev["h4.example.com"] != 1 || ev["h2.example.com"] != 2 || ev["h1.example.com"] != 2 {
		t.Errorf("events %v %v", ev, err)
	}
}

// testReportQuotaBytes: a report that would take the app over its bytes
// quota is refused as such.
func testReportQuotaBytes(t *testing.T, open func(...Option) Store) {
	s := open(WithReportLimits(ReportLimits{MaxBytes: 4000}))
	ctx := context.Background()
	r, raw := failure(t, 1, 0)
	if _, _, err := s.AddReport(ctx, r, raw, t0); err != nil {
		t.Fatal(err)
	}
	u, _ := s.ReportUsage(ctx, "shop")
	if u.Bytes <= 2000 || u.Bytes > 4000 {
		t.Fatalf("one report counts %d bytes; the test needs 2000 to 4000", u.Bytes)
	}
	r, raw = failure(t, 2, 0)
	_, _, err := s.AddReport(ctx, r, raw, t0)
	var qe *QuotaError
	if !errors.As(err, &qe) || qe.Reason != DropQuotaBytes {
		t.Fatalf("over the bytes quota: %v", err)
	}
	if d := s.ReportDrops(); d[DropQuotaBytes] != 1 {
		t.Errorf("drops %v", d)
	}
}

// testReportRetention: reports whose last arrival is older than the
// retention are deleted, with their certificates and their share of the
// quota; arrival counts past their own retention too.
func testReportRetention(t *testing.T, open func(...Option) Store) {
	s := open(WithReportLimits(ReportLimits{Retention: 48 * time.Hour, EventRetention: 24 * time.Hour}))
	ctx := context.Background()
	r1, raw := failure(t, 1, 0)
	r2, _ := failure(t, 2, 0)
	if _, _, err := s.AddReport(ctx, r1, raw, t0); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.AddReport(ctx, r2, raw, t0); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.AddReport(ctx, r2, raw, t0.Add(30*time.Hour)); err != nil { // seen again
		t.Fatal(err)
	}
	n, err := s.PruneReports(ctx, t0.Add(49*time.Hour))
	if err != nil || n != 1 {
		t.Fatalf("prune: %d %v", n, err)
	}
	rest, _ := s.Reports(ctx, ReportQuery{App: "shop"})
	if len(rest) != 1 || rest[0].Report.Host != "h2.example.com" || len(rest[0].Report.ValidatedChain) != 2 ||
		!strings.HasPrefix(rest[0].Report.ValidatedChain[0].PEM, "-----BEGIN CERTIFICATE-----") {
		t.Fatalf("after prune: %+v", rest)
	}
	if c := countRows(t, s, "certificates"); c != 2 {
		t.Errorf("certificates still referenced were deleted: %d", c)
	}
	if ev, _ := s.ReportEvents(ctx, "shop", t0, t0.Add(72*time.Hour)); ev["h1.example.com"] != 0 || ev["h2.example.com"] != 1 {
		t.Errorf("arrival counts after prune: %v", ev)
	}
	// The store prunes on its own when reports arrive.
	r3, _ := failure(t, 3, 4)
	if _, _, err := s.AddReport(ctx, r3, raw, t0.Add(100*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if u, _ := s.ReportUsage(ctx, "shop"); u.Rows != 1 {
		t.Errorf("usage after the automatic prune: %+v", u)
	}
	if c := countRows(t, s, "report_certs"); c != 2 {
		t.Errorf("%d certificate references", c)
	}
	if d := s.ReportDrops(); d[DropRetention] != 2 {
		t.Errorf("drops %v", d)
	}
}

// testReportEventsByArrival: 100 identical reports over 50 minutes, from
// a client whose date-time stays at its first report's: the last 15
// minutes hold 30 arrivals (the window used to filter on the row's first,
// client-supplied time and saw none).
func testReportEventsByArrival(t *testing.T, open func(...Option) Store) {
	s := open()
	ctx := context.Background()
	r, raw := fixtureReport(t, "trustkit-ios.json", "shop")
	start := r.Time.Truncate(time.Minute) // arrival counts are per minute
	for i := range 100 {
		if _, _, err := s.AddReport(ctx, r, raw, start.Add(time.Duration(i)*30*time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	end := start.Add(50 * time.Minute)
	ev, err := s.ReportEvents(ctx, "shop", end.Add(-15*time.Minute), end)
	if err != nil || ev["api.example.com"] != 30 {
		t.Errorf("last 15 minutes: %v %v, want 30", ev, err)
	}
	all, _ := s.ReportEvents(ctx, "shop", start, end)
	if all["api.example.com"] != 100 {
		t.Errorf("all: %v", all)
	}
	if other, _ := s.ReportEvents(ctx, "blog", start, end); len(other) != 0 {
		t.Errorf("another app: %v", other)
	}
}

// TestUpgradeFromVersion1 stores a report under schema version 1 (raw body
// and normalised JSON with every PEM), then opens the database, which
// migrates it: the old report reads back unchanged and counts against the
// quota, and retention deletes it.
func TestUpgradeFromVersion1(t *testing.T) {
	ctx := context.Background()
	for _, backendName := range []string{"sqlite", "postgres"} {
		t.Run(backendName, func(t *testing.T) {
			b, reopen := oldSchema(t, backendName, ReportLimits{Retention: time.Hour})
			if err := migrateTo(ctx, b, backendName, "", 1); err != nil {
				t.Fatal(err)
			}
			r, raw := fixtureReport(t, "trustkit-android.json", "shop")
			norm, _ := json.Marshal(r)
			if _, err := b.exec(ctx, `INSERT INTO reports (app, host, port, platform, app_version, format, validation_result, enforce,
				report_time, first_seen, last_seen, count, dedup_key, presented_pins, normalized, raw)
				VALUES ('shop', $1, 0, 'ANDROID', '4.2.0', $2, 1, 1, $3, $3, $3, 2, $4, '', $5, $6)`,
				r.Host, r.Format, unix(t0), r.DedupKey, string(norm), raw); err != nil {
				t.Fatal(err)
			}
			s := reopen()
			defer s.Close()
			got, err := s.Reports(ctx, ReportQuery{App: "shop"})
			if err != nil || len(got) != 1 || got[0].Count != 2 || got[0].Report.ServedChain[0].PEM != r.ServedChain[0].PEM {
				t.Fatalf("old report after the upgrade: %+v %v", got, err)
			}
			if back, err := s.RawReport(ctx, got[0].ID); err != nil || string(back) != string(raw) {
				t.Errorf("old raw body: %v", err)
			}
			if u, _ := s.ReportUsage(ctx, "shop"); u.Rows != 1 || u.Bytes < int64(len(raw)) {
				t.Errorf("usage of the old report: %+v", u)
			}
			// The same failure again: a duplicate of the old row.
			if _, dup, err := s.AddReport(ctx, r, raw, t0.Add(time.Minute)); err != nil || !dup {
				t.Errorf("repeat of the old report: %v %v", dup, err)
			}
			if n, err := s.PruneReports(ctx, t0.Add(3*time.Hour)); err != nil || n != 1 {
				t.Errorf("prune of the old report: %d %v", n, err)
			}
			if u, _ := s.ReportUsage(ctx, "shop"); u != (Usage{}) {
				t.Errorf("usage after prune: %+v", u)
			}
		})
	}
}

// oldSchema opens an empty database of backendName (a temporary SQLite
// file, or a test schema of PostgreSQL) without migrating it, for a test
// to build an older schema with migrateTo; reopen opens it as a Store
// with lim, which migrates it to the current schema.
func oldSchema(t *testing.T, backendName string, lim ReportLimits) (b backend, reopen func() Store) {
	ctx := context.Background()
	if backendName == "sqlite" {
		path := filepath.Join(t.TempDir(), SQLiteFile)
		db, err := sql.Open("sqlite", "file:"+path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return &sqliteDB{db: db}, func() Store {
			s, err := OpenSQLite(ctx, path, WithReportLimits(lim))
			if err != nil {
				t.Fatal(err)
			}
			return s
		}
	}
	u := postgresURLForTest(t)
	pool, err := pgxpool.New(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return &pgDB{pool: pool}, func() Store {
		s, err := OpenPostgres(ctx, u, WithReportLimits(lim))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
}
