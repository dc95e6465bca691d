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
	// RecordInstallsCapped is RecordInstalls that counts at most
	// limit.Max distinct installs per (app, Network) seen at or after
	// limit.Since: a sighting of an install not yet counted for its
	// network in that window, once the network has limit.Max, is not
	// written (the install's older row, if any, stays as it was). It
	// returns how many sightings it left out, per app. Max <= 0: no cap.
	RecordInstallsCapped(ctx context.Context, ss []InstallSighting, limit NetworkLimit) (capped map[string]int64, err error)
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
	// Network is an opaque key of the client's network (the service
	// derives it from the address prefix; the address is never stored).
	Network string
	Seen    time.Time
}

// NetworkLimit bounds the installs one network can have counted.
type NetworkLimit struct {
	Max   int       // distinct installs per (app, network); <= 0: no cap
	Since time.Time // the window's start
}

// NetworkVersionCount is the number of active installs of one network
// holding one manifest version.
type NetworkVersionCount struct {
	Network         string
	ManifestVersion int64
	Clients         int64
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
	// Networks splits the same installs by network (ordered by network,
	// then version).
	Networks []NetworkVersionCount
}

// recordChunk bounds the rows of one INSERT statement.
const recordChunk = 100

func (s *sqlStore) RecordInstalls(ctx context.Context, ss []InstallSighting) error {
	_, err := s.RecordInstallsCapped(ctx, ss, NetworkLimit{})
	return err
}

func (s *sqlStore) RecordInstallsCapped(ctx context.Context, ss []InstallSighting, limit NetworkLimit) (map[string]int64, error) {
	if len(ss) == 0 {
		return map[string]int64{}, nil
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
	var capped map[string]int64
	err := s.db.inTx(ctx, func(c conn) error {
		rows := rows
		capped = map[string]int64{}
		if limit.Max > 0 {
			var err error
			if rows, capped, err = capPerNetwork(ctx, c, rows, limit); err != nil {
				return err
			}
		}
		for len(rows) > 0 {
			n := min(len(rows), recordChunk)
			var q strings.Builder
			q.WriteString(`INSERT INTO adoption_installs (app, install, root_version, manifest_version, sdk, network, seen_at) VALUES `)
			args := make([]any, 0, 7*n)
			for i, x := range rows[:n] {
				if i > 0 {
					q.WriteString(", ")
				}
				b := 7 * i
				fmt.Fprintf(&q, "($%d, $%d, $%d, $%d, $%d, $%d, $%d)", b+1, b+2, b+3, b+4, b+5, b+6, b+7)
				args = append(args, x.App, x.Install, x.RootVersion, x.ManifestVersion, x.SDK, x.Network, unix(x.Seen))
			}
			q.WriteString(` ON CONFLICT (app, install) DO UPDATE SET root_version = excluded.root_version,
				manifest_version = excluded.manifest_version, sdk = excluded.sdk, network = excluded.network, seen_at = excluded.seen_at
				WHERE excluded.seen_at >= adoption_installs.seen_at`)
			if _, err := c.exec(ctx, q.String(), args...); err != nil {
				return err
			}
			rows = rows[n:]
		}
		return nil
	})
	return capped, err
}

// capPerNetwork keeps, of rows (sorted by app and install), those that
// stay within limit: per (app, network), the installs already counted in
// the window always, new ones (the earliest sightings first) while the
// network has fewer than limit.Max. It returns the kept rows and how many
// it left out per app.
func capPerNetwork(ctx context.Context, c conn, rows []InstallSighting, limit NetworkLimit) ([]InstallSighting, map[string]int64, error) {
	groups := map[[2]string][]InstallSighting{}
	var keys [][2]string
	for _, x := range rows {
		k := [2]string{x.App, x.Network}
		if groups[k] == nil {
			keys = append(keys, k)
		}
		groups[k] = append(groups[k], x)
	}
	counted, err := networkInstalls(ctx, c, keys, limit.Since)
	if err != nil {
		return nil, nil, err
	}
	kept := make([]InstallSighting, 0, len(rows))
	capped := map[string]int64{}
	for _, k := range keys {
		counted := counted[k]
		g := groups[k]
		sort.SliceStable(g, func(i, j int) bool { return g[i].Seen.Before(g[j].Seen) })
		for _, x := range g {
			switch {
			case counted[x.Install]:
			case len(counted) < limit.Max:
				counted[x.Install] = true
			default:
				capped[x.App]++
				continue
			}
			kept = append(kept, x)
		}
	}
	sort.Slice(kept, func(i, j int) bool {
		if kept[i].App != kept[j].App {
			return kept[i].App < kept[j].App
		}
		return kept[i].Install < kept[j].Install
	})
	return kept, capped, nil
}

// networkInstalls are the installs counted since for each (app, network)
// of keys (an empty set for a network with none), in one query per app and
// recordChunk networks.
func networkInstalls(ctx context.Context, c conn, keys [][2]string, since time.Time) (map[[2]string]map[string]bool, error) {
	out := make(map[[2]string]map[string]bool, len(keys))
	byApp := map[string][]string{}
	for _, k := range keys {
		out[k] = map[string]bool{}
		byApp[k[0]] = append(byApp[k[0]], k[1])
	}
	for app, nets := range byApp {
		for len(nets) > 0 {
			n := min(len(nets), recordChunk)
			var q strings.Builder
			q.WriteString(`SELECT network, install FROM adoption_installs WHERE app = $1 AND seen_at >= $2 AND network IN (`)
			args := []any{app, unix(since)}
			for i, nw := range nets[:n] {
				if i > 0 {
					q.WriteString(", ")
				}
				fmt.Fprintf(&q, "$%d", i+3)
				args = append(args, nw)
			}
			q.WriteString(")")
			if err := scanNetworkInstalls(ctx, c, q.String(), args, app, out); err != nil {
				return nil, err
			}
			nets = nets[n:]
		}
	}
	return out, nil
}

func scanNetworkInstalls(ctx context.Context, c conn, q string, args []any, app string, out map[[2]string]map[string]bool) error {
	rs, err := c.query(ctx, q, args...)
	return eachRow(rs, err, func(r row) error {
		var nw, id string
		if err := r.Scan(&nw, &id); err != nil {
			return err
		}
		out[[2]string{app, nw}][id] = true
		return nil
	})
}

func (s *sqlStore) Adoption(ctx context.Context, app string, since time.Time) (AdoptionCounts, error) {
	rs, err := s.db.query(ctx, `SELECT manifest_version, COUNT(*) FROM adoption_installs
		WHERE app = $1 AND seen_at >= $2 GROUP BY manifest_version ORDER BY manifest_version`, app, unix(since))
	var out AdoptionCounts
	out.Versions, err = scanRows(rs, err, []VersionCount{}, func(r row) (VersionCount, error) {
		var v VersionCount
		err := r.Scan(&v.ManifestVersion, &v.Clients)
		out.Active += v.Clients
		return v, err
	})
	if err != nil {
		return AdoptionCounts{}, err
	}
	rn, err := s.db.query(ctx, `SELECT network, manifest_version, COUNT(*) FROM adoption_installs
		WHERE app = $1 AND seen_at >= $2 GROUP BY network, manifest_version ORDER BY network, manifest_version`, app, unix(since))
	out.Networks, err = scanRows(rn, err, []NetworkVersionCount{}, func(r row) (NetworkVersionCount, error) {
		var v NetworkVersionCount
		err := r.Scan(&v.Network, &v.ManifestVersion, &v.Clients)
		return v, err
	})
	if err != nil {
		return AdoptionCounts{}, err
	}
	return out, nil
}

func (s *sqlStore) PruneInstalls(ctx context.Context, before time.Time) (int64, error) {
	return s.db.exec(ctx, `DELETE FROM adoption_installs WHERE seen_at < $1`, unix(before))
}
