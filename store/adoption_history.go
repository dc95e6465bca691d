package store

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// AdoptionSample is the adoption of a rotation plan's next pin at one
// time: how many of the active installs hold a manifest that pins it for
// the plan's host.
type AdoptionSample struct {
	PlanID  int64     `json:"-"`
	At      time.Time `json:"at"`
	Clients int64     `json:"clients"`
	Active  int64     `json:"active"`
}

// Fraction is Clients out of Active (0 with no active install).
func (s AdoptionSample) Fraction() float64 {
	if s.Active == 0 {
		return 0
	}
	return float64(s.Clients) / float64(s.Active)
}

func (s *sqlStore) AddAdoptionSample(ctx context.Context, a AdoptionSample, minGap time.Duration, keep int) (bool, error) {
	if keep < 2 {
		return false, fmt.Errorf("adoption samples: keep %d, want at least 2", keep)
	}
	added := false
	err := s.db.inTx(ctx, func(c conn) error {
		var n, last int64
		if err := c.queryRow(ctx, `SELECT COUNT(*), COALESCE(MAX(at), 0) FROM rotation_adoption WHERE plan_id = $1`, a.PlanID).Scan(&n, &last); err != nil {
			return err
		}
		if n > 0 && a.At.Sub(fromUnix(last)) < minGap {
			return nil
		}
		if _, err := c.exec(ctx, `INSERT INTO rotation_adoption (plan_id, at, clients, active) VALUES ($1, $2, $3, $4)`,
			a.PlanID, unix(a.At), a.Clients, a.Active); err != nil {
			return err
		}
		added = true
		if n+1 <= int64(keep) {
			return nil
		}
		return thinAdoption(ctx, c, a.PlanID)
	})
	return added, err
}

// thinAdoption deletes every second sample of a plan, oldest first,
// keeping the first and the newest.
func thinAdoption(ctx context.Context, c conn, plan int64) error {
	rs, err := c.query(ctx, `SELECT id FROM rotation_adoption WHERE plan_id = $1 ORDER BY at, id`, plan)
	ids, err := scanRows(rs, err, nil, scanOne[int64])
	if err != nil {
		return err
	}
	var drop []any
	for i := 1; i < len(ids)-1; i += 2 {
		drop = append(drop, ids[i])
	}
	for len(drop) > 0 {
		n := min(len(drop), recordChunk)
		marks := make([]string, n)
		for i := range marks {
			marks[i] = fmt.Sprintf("$%d", i+1)
		}
		if _, err := c.exec(ctx, `DELETE FROM rotation_adoption WHERE id IN (`+strings.Join(marks, ", ")+`)`, drop[:n]...); err != nil {
			return err
		}
		drop = drop[n:]
	}
	return nil
}

func (s *sqlStore) AdoptionSamples(ctx context.Context, planID int64) ([]AdoptionSample, error) {
	rs, err := s.db.query(ctx, `SELECT at, clients, active FROM rotation_adoption WHERE plan_id = $1 ORDER BY at, id`, planID)
	return scanRows(rs, err, nil, func(r row) (AdoptionSample, error) {
		a := AdoptionSample{PlanID: planID}
		var at int64
		err := r.Scan(&at, &a.Clients, &a.Active)
		a.At = fromUnix(at)
		return a, err
	})
}
