package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// RotationStore keeps rotation plans (package rotate) and their audit
// trail. The store does not interpret a plan: Data is the plan's JSON;
// App, Host and State are copied out of it for queries and the
// one-active-plan-per-host rule.
type RotationStore interface {
	// CreatePlan stores a new plan and its first audit entry in one
	// transaction and returns its id; ErrExists when the app already has
	// an active plan for the host.
	CreatePlan(ctx context.Context, p PlanRecord, a AuditEntry) (int64, error)
	// UpdatePlan replaces plan p.ID if its revision is still rev (then
	// rev+1), appending a (when a.What is not empty) in the same
	// transaction; ErrConflict if another writer got there first,
	// ErrNotFound for an unknown id.
	UpdatePlan(ctx context.Context, p PlanRecord, rev int64, a AuditEntry) error
	// Plan returns one plan, or ErrNotFound.
	Plan(ctx context.Context, id int64) (PlanRecord, error)
	// Plans lists plans, newest first: of one app (all apps when app is
	// empty), only active ones when active.
	Plans(ctx context.Context, app string, active bool) ([]PlanRecord, error)
	// PlanAudit lists a plan's audit entries, oldest first.
	PlanAudit(ctx context.Context, id int64) ([]AuditEntry, error)
	// AddAdoptionSample stores one sample of a plan's adoption, unless
	// the plan's newest sample is less than minGap older (added false).
	// A plan keeps at most keep samples: beyond, every second one is
	// deleted, the first and the newest kept, so the whole curve remains
	// at a coarser step (adoption_history.go).
	AddAdoptionSample(ctx context.Context, s AdoptionSample, minGap time.Duration, keep int) (added bool, err error)
	// AdoptionSamples lists a plan's samples, oldest first.
	AdoptionSamples(ctx context.Context, planID int64) ([]AdoptionSample, error)
}

// PlanRecord is one stored plan.
type PlanRecord struct {
	ID        int64
	App       string
	Host      string
	State     string
	Active    bool // not done or aborted
	Rev       int64
	Data      []byte // the plan, JSON
	CreatedAt time.Time
	UpdatedAt time.Time
}

// AuditEntry is one transition of a plan (or an operator action on it).
type AuditEntry struct {
	At    time.Time `json:"at"`
	From  string    `json:"from"`
	To    string    `json:"to"`
	What  string    `json:"what"`  // e.g. "start", "step", "advance", "abort", "publish-announce"
	Why   string    `json:"why"`   // in words
	Token string    `json:"token"` // the admin token's name, or "service"
}

func (s *sqlStore) CreatePlan(ctx context.Context, p PlanRecord, a AuditEntry) (int64, error) {
	var id int64
	err := s.db.inTx(ctx, func(c conn) error {
		var n int64
		if err := c.queryRow(ctx, `SELECT COUNT(*) FROM rotation_plans WHERE app = $1 AND host = $2 AND active = 1`, p.App, p.Host).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return fmt.Errorf("app %s host %s has an active rotation plan: %w", p.App, p.Host, ErrExists)
		}
		err := c.queryRow(ctx, `INSERT INTO rotation_plans (app, host, state, active, rev, data, created_at, updated_at)
			VALUES ($1, $2, $3, $4, 1, $5, $6, $6) RETURNING id`,
			p.App, p.Host, p.State, b2i(p.Active), string(p.Data), unix(p.CreatedAt)).Scan(&id)
		if err != nil {
			return err
		}
		return addAudit(ctx, c, id, a)
	})
	if err != nil && !errors.Is(err, ErrExists) && isUniqueViolation(err) {
		// Two creators raced past the count; the unique index decided.
		return 0, fmt.Errorf("app %s host %s has an active rotation plan: %w", p.App, p.Host, ErrExists)
	}
	return id, err
}

func addAudit(ctx context.Context, c conn, id int64, a AuditEntry) error {
	if a.What == "" {
		return nil
	}
	_, err := c.exec(ctx, `INSERT INTO rotation_audit (plan_id, at, from_state, to_state, what, why, token) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		id, unix(a.At), a.From, a.To, a.What, a.Why, a.Token)
	return err
}

func (s *sqlStore) UpdatePlan(ctx context.Context, p PlanRecord, rev int64, a AuditEntry) error {
	return s.db.inTx(ctx, func(c conn) error {
		n, err := c.exec(ctx, `UPDATE rotation_plans SET state = $1, active = $2, rev = rev + 1, data = $3, updated_at = $4
			WHERE id = $5 AND rev = $6`, p.State, b2i(p.Active), string(p.Data), unix(p.UpdatedAt), p.ID, rev)
		if err != nil {
			return err
		}
		if n != 1 {
			var cur int64
			if err := c.queryRow(ctx, `SELECT rev FROM rotation_plans WHERE id = $1`, p.ID).Scan(&cur); err != nil {
				return err
			}
			return fmt.Errorf("rotation plan %d changed (revision %d, not %d): %w", p.ID, cur, rev, ErrConflict)
		}
		return addAudit(ctx, c, p.ID, a)
	})
}

const planCols = `id, app, host, state, active, rev, data, created_at, updated_at`

func scanPlan(r row) (PlanRecord, error) {
	var p PlanRecord
	var active, created, updated int64
	var data string
	if err := r.Scan(&p.ID, &p.App, &p.Host, &p.State, &active, &p.Rev, &data, &created, &updated); err != nil {
		return PlanRecord{}, err
	}
	p.Active, p.Data, p.CreatedAt, p.UpdatedAt = active == 1, []byte(data), fromUnix(created), fromUnix(updated)
	return p, nil
}

func (s *sqlStore) Plan(ctx context.Context, id int64) (PlanRecord, error) {
	return scanPlan(s.db.queryRow(ctx, `SELECT `+planCols+` FROM rotation_plans WHERE id = $1`, id))
}

func (s *sqlStore) Plans(ctx context.Context, app string, active bool) ([]PlanRecord, error) {
	rs, err := s.db.query(ctx, `SELECT `+planCols+` FROM rotation_plans
		WHERE ($1 = '' OR app = $1) AND ($2 = 0 OR active = 1) ORDER BY id DESC`, app, b2i(active))
	return scanRows(rs, err, nil, scanPlan)
}

func (s *sqlStore) PlanAudit(ctx context.Context, id int64) ([]AuditEntry, error) {
	rs, err := s.db.query(ctx, `SELECT at, from_state, to_state, what, why, token FROM rotation_audit WHERE plan_id = $1 ORDER BY id`, id)
	return scanRows(rs, err, []AuditEntry{}, func(r row) (AuditEntry, error) {
		var a AuditEntry
		var at int64
		err := r.Scan(&at, &a.From, &a.To, &a.What, &a.Why, &a.Token)
		a.At = fromUnix(at)
		return a, err
	})
}

// isUniqueViolation recognises a unique-index violation of either backend.
func isUniqueViolation(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == "23505"
	}
	return strings.Contains(err.Error(), "UNIQUE constraint failed")
}
