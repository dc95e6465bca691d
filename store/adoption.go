package store

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"
)

// AdoptionStore keeps adoption telemetry: per app, the last manifest
// fetch of every install (one row per install, so counting rows counts
// distinct installs exactly).
type AdoptionStore interface {
	// RecordInstalls upserts sightings in one transaction: each (App,
	// Install) keeps its latest sighting (an older one never overwrites
	// a newer one).
	RecordInstalls(ctx context.Context, ss []InstallSighting) error
	// Adoption counts the installs of app seen at or after since, per
	// manifest version held (ascending).
	Adoption(ctx context.Context, app string, since time.Time) (AdoptionCounts, error)
	// PruneInstalls deletes the sightings older than before (all apps)
	// and returns how many.
	PruneInstalls(ctx context.Context, before time.Time) (int64, error)
}

// InstallSighting is one manifest fetch, as the service counts it.
type InstallSighting struct {
	App             string
	Install         string // an SDK's install id, or a derived anonymous key
	RootVersion     int64  // 0: unknown
	ManifestVersion int64  // 0: unknown
	SDK             string // "" when the client sent no telemetry
	Seen            time.Time
}

// VersionCount is the number of active installs holding one manifest
// version (0: unknown).
type VersionCount struct {
	ManifestVersion int64 `json:"manifest_version"`
	Clients         int64 `json:"clients"`
}

// AdoptionCounts are the active installs of one app.
type AdoptionCounts struct {
	Active   int64
	Versions []VersionCount
}

// recordChunk bounds the rows of one INSERT statement.
const recordChunk = 100

func (s *sqlStore) RecordInstalls(ctx context.Context, ss []InstallSighting) error {
	if len(ss) == 0 {
		return nil
	}
	// One row per key (PostgreSQL refuses to update a row twice in one
	// statement), the latest sighting winning.
	latest := make(map[[2]string]InstallSighting, len(ss))
	for _, x := range ss {
		k := [2]string{x.App, x.Install}
		if old, ok := latest[k]; !ok || !x.Seen.Before(old.Seen) {
			latest[k] = x
		}
	}
	rows := make([]InstallSighting, 0, len(latest))
	for _, x := range latest {
		rows = append(rows, x)
	}
	// A fixed order makes concurrent writers lock rows in the same order.
	sort.Slice(rows, func(i, j int) bool {
		if rows[i].App != rows[j].App {
			return rows[i].App < rows[j].App
		}
		return rows[i].Install < rows[j].Install
	})
	return s.db.inTx(ctx, func(c conn) error {
		for len(rows) > 0 {
			n := min(len(rows), recordChunk)
			var q strings.Builder
			q.WriteString(`INSERT INTO adoption_installs (app, install, root_version, manifest_version, sdk, seen_at) VALUES `)
			args := make([]any, 0, 6*n)
			for i, x := range rows[:n] {
				if i > 0 {
					q.WriteString(", ")
				}
				b := 6 * i
				fmt.Fprintf(&q, "($%d, $%d, $%d, $%d, $%d, $%d)", b+1, b+2, b+3, b+4, b+5, b+6)
				args = append(args, x.App, x.Install, x.RootVersion, x.ManifestVersion, x.SDK, unix(x.Seen))
			}
			q.WriteString(` ON CONFLICT (app, install) DO UPDATE SET root_version = excluded.root_version,
				manifest_version = excluded.manifest_version, sdk = excluded.sdk, seen_at = excluded.seen_at
				WHERE excluded.seen_at >= adoption_installs.seen_at`)
			if _, err := c.exec(ctx, q.String(), args...); err != nil {
				return err
			}
			rows = rows[n:]
		}
		return nil
	})
}

func (s *sqlStore) Adoption(ctx context.Context, app string, since time.Time) (AdoptionCounts, error) {
	rs, err := s.db.query(ctx, `SELECT manifest_version, COUNT(*) FROM adoption_installs
		WHERE app = $1 AND seen_at >= $2 GROUP BY manifest_version ORDER BY manifest_version`, app, unix(since))
	if err != nil {
		return AdoptionCounts{}, err
	}
	defer rs.Close()
	out := AdoptionCounts{Versions: []VersionCount{}}
	for rs.Next() {
		var v VersionCount
		if err := rs.Scan(&v.ManifestVersion, &v.Clients); err != nil {
			return AdoptionCounts{}, err
		}
		out.Active += v.Clients
		out.Versions = append(out.Versions, v)
	}
	return out, rs.Err()
}

func (s *sqlStore) PruneInstalls(ctx context.Context, before time.Time) (int64, error) {
	return s.db.exec(ctx, `DELETE FROM adoption_installs WHERE seen_at < $1`, unix(before))
}
