package store

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
)

// ErrRevoked: the device was revoked; it gets no certificate again.
var ErrRevoked = errors.New("revoked")

// DeviceStore keeps device enrollment tokens, devices, the certificates
// issued to them and their audit trail (package device decides; the store
// only records, atomically).
type DeviceStore interface {
	// AddEnrollToken stores a new enrollment token's hash; ErrRevoked when
	// t.DeviceID names a revoked device of t.App, ErrExists when the hash
	// is already stored.
	AddEnrollToken(ctx context.Context, t EnrollToken) error
	// UseEnrollToken marks the token with this hash used, if it belongs to
	// app, was never used and has not expired at now, and returns it;
	// otherwise ErrNotFound (one answer for unknown, used, expired and
	// another app's token). Of two concurrent uses, one wins.
	UseEnrollToken(ctx context.Context, app string, hash TokenHash, now time.Time) (EnrollToken, error)
	// AddDeviceCert records an issued certificate (creating the device on
	// its first one) and its audit entry in one transaction; ErrRevoked
	// when the device was revoked.
	AddDeviceCert(ctx context.Context, c DeviceCert, a DeviceAuditEntry) error
	// DeviceCert returns one certificate by serial (lower-case hex) with
	// its device's revocation, or ErrNotFound.
	DeviceCert(ctx context.Context, app, serial string) (DeviceCert, error)
	// RevokeDevice revokes a device and every certificate issued to it,
	// with an audit entry, and returns how many certificates it revoked;
	// ErrNotFound when the app has no such device (or it is already
	// revoked).
	RevokeDevice(ctx context.Context, app, id string, now time.Time, a DeviceAuditEntry) (int64, error)
	// RevokedDeviceCerts lists the app's revoked certificates that have
	// not expired at now (what a CRL must list), by serial.
	RevokedDeviceCerts(ctx context.Context, app string, now time.Time) ([]DeviceCert, error)
	// NextCRLNumber returns the app's next CRL number (1, 2, ...), each
	// once, across processes.
	NextCRLNumber(ctx context.Context, app string) (int64, error)
	// DeviceAudit lists a device's audit entries, oldest first.
	DeviceAudit(ctx context.Context, app, id string) ([]DeviceAuditEntry, error)
}

// EnrollToken is a stored enrollment token (its hash only).
type EnrollToken struct {
	App       string
	DeviceID  string
	Hash      TokenHash
	CreatedAt time.Time
	ExpiresAt time.Time
	CreatedBy string // the admin token's name
}

// DeviceCert is one certificate issued to a device.
type DeviceCert struct {
	App       string    `json:"app"`
	DeviceID  string    `json:"device_id"`
	Serial    string    `json:"serial"` // lower-case hex
	NotBefore time.Time `json:"not_before"`
	NotAfter  time.Time `json:"not_after"`
	RevokedAt time.Time `json:"revoked_at,omitzero"`
	// DeviceRevokedAt is when the device was revoked (DeviceCert only).
	DeviceRevokedAt time.Time `json:"device_revoked_at,omitzero"`
}

// DeviceAuditEntry is one issuance, renewal or revocation.
type DeviceAuditEntry struct {
	At     time.Time `json:"at"`
	What   string    `json:"what"` // "enroll", "renew", "revoke"
	Serial string    `json:"serial,omitempty"`
	Why    string    `json:"why,omitempty"`
	Actor  string    `json:"actor"` // the admin token's name, "device" or "service"
}

func (s *sqlStore) AddEnrollToken(ctx context.Context, t EnrollToken) error {
	return s.db.inTx(ctx, func(c conn) error {
		var revoked int64
		err := c.queryRow(ctx, `SELECT revoked_at FROM devices WHERE app = $1 AND device_id = $2`, t.App, t.DeviceID).Scan(&revoked)
		if err == nil && revoked != 0 {
			return fmt.Errorf("device %s of app %s: %w", t.DeviceID, t.App, ErrRevoked)
		}
		if err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
		_, err = c.exec(ctx, `INSERT INTO device_enroll_tokens (hash, app, device_id, created_at, expires_at, created_by) VALUES ($1, $2, $3, $4, $5, $6)`,
			hex.EncodeToString(t.Hash[:]), t.App, t.DeviceID, unix(t.CreatedAt), unix(t.ExpiresAt), t.CreatedBy)
		if err != nil && isUniqueViolation(err) {
			return ErrExists
		}
		return err
	})
}

func (s *sqlStore) UseEnrollToken(ctx context.Context, app string, hash TokenHash, now time.Time) (EnrollToken, error) {
	t := EnrollToken{App: app, Hash: hash}
	var created, expires int64
	// One statement: of two concurrent uses, only one updates the row.
	err := s.db.queryRow(ctx, `UPDATE device_enroll_tokens SET used_at = $1
		WHERE hash = $2 AND app = $3 AND used_at = 0 AND expires_at > $1
		RETURNING device_id, created_at, expires_at, created_by`, unix(now), hex.EncodeToString(hash[:]), app).
		Scan(&t.DeviceID, &created, &expires, &t.CreatedBy)
	if err != nil {
		return EnrollToken{}, err
	}
	t.CreatedAt, t.ExpiresAt = fromUnix(created), fromUnix(expires)
	return t, nil
}

func addDeviceAudit(ctx context.Context, c conn, app, id string, a DeviceAuditEntry) error {
	_, err := c.exec(ctx, `INSERT INTO device_audit (app, device_id, at, what, serial, why, actor) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		app, id, unix(a.At), a.What, a.Serial, a.Why, a.Actor)
	return err
}

func (s *sqlStore) AddDeviceCert(ctx context.Context, d DeviceCert, a DeviceAuditEntry) error {
	return s.db.inTx(ctx, func(c conn) error {
		if _, err := c.exec(ctx, `INSERT INTO devices (app, device_id, created_at) VALUES ($1, $2, $3) ON CONFLICT (app, device_id) DO NOTHING`,
			d.App, d.DeviceID, unix(a.At)); err != nil {
			return err
		}
		var revoked int64
		if err := c.queryRow(ctx, `SELECT revoked_at FROM devices WHERE app = $1 AND device_id = $2`, d.App, d.DeviceID).Scan(&revoked); err != nil {
			return err
		}
		if revoked != 0 {
			return fmt.Errorf("device %s of app %s: %w", d.DeviceID, d.App, ErrRevoked)
		}
		if _, err := c.exec(ctx, `INSERT INTO device_certs (app, serial, device_id, not_before, not_after) VALUES ($1, $2, $3, $4, $5)`,
			d.App, d.Serial, d.DeviceID, unix(d.NotBefore), unix(d.NotAfter)); err != nil {
			return err
		}
		return addDeviceAudit(ctx, c, d.App, d.DeviceID, a)
	})
}

func (s *sqlStore) DeviceCert(ctx context.Context, app, serial string) (DeviceCert, error) {
	d := DeviceCert{App: app, Serial: serial}
	var nb, na, rv, drv int64
	err := s.db.queryRow(ctx, `SELECT c.device_id, c.not_before, c.not_after, c.revoked_at, d.revoked_at
		FROM device_certs c JOIN devices d ON d.app = c.app AND d.device_id = c.device_id
		WHERE c.app = $1 AND c.serial = $2`, app, serial).Scan(&d.DeviceID, &nb, &na, &rv, &drv)
	if err != nil {
		return DeviceCert{}, err
	}
	d.NotBefore, d.NotAfter, d.RevokedAt, d.DeviceRevokedAt = fromUnix(nb), fromUnix(na), fromUnix(rv), fromUnix(drv)
	return d, nil
}

func (s *sqlStore) RevokeDevice(ctx context.Context, app, id string, now time.Time, a DeviceAuditEntry) (int64, error) {
	var n int64
	err := s.db.inTx(ctx, func(c conn) error {
		m, err := c.exec(ctx, `UPDATE devices SET revoked_at = $1 WHERE app = $2 AND device_id = $3 AND revoked_at = 0`, unix(now), app, id)
		if err != nil {
			return err
		}
		if m != 1 {
			return fmt.Errorf("device %s of app %s: %w", id, app, ErrNotFound)
		}
		if n, err = c.exec(ctx, `UPDATE device_certs SET revoked_at = $1 WHERE app = $2 AND device_id = $3 AND revoked_at = 0`, unix(now), app, id); err != nil {
			return err
		}
		return addDeviceAudit(ctx, c, app, id, a)
	})
	return n, err
}

func (s *sqlStore) RevokedDeviceCerts(ctx context.Context, app string, now time.Time) ([]DeviceCert, error) {
	rs, err := s.db.query(ctx, `SELECT serial, device_id, not_before, not_after, revoked_at FROM device_certs
		WHERE app = $1 AND revoked_at <> 0 AND not_after > $2 ORDER BY serial`, app, unix(now))
	return scanRows(rs, err, []DeviceCert{}, func(r row) (DeviceCert, error) {
		d := DeviceCert{App: app}
		var nb, na, rv int64
		err := r.Scan(&d.Serial, &d.DeviceID, &nb, &na, &rv)
		d.NotBefore, d.NotAfter, d.RevokedAt = fromUnix(nb), fromUnix(na), fromUnix(rv)
		return d, err
	})
}

func (s *sqlStore) NextCRLNumber(ctx context.Context, app string) (int64, error) {
	var n int64
	err := s.db.queryRow(ctx, `INSERT INTO device_crl_numbers (app, number) VALUES ($1, 1)
		ON CONFLICT (app) DO UPDATE SET number = device_crl_numbers.number + 1 RETURNING number`, app).Scan(&n)
	return n, err
}

func (s *sqlStore) DeviceAudit(ctx context.Context, app, id string) ([]DeviceAuditEntry, error) {
	rs, err := s.db.query(ctx, `SELECT at, what, serial, why, actor FROM device_audit WHERE app = $1 AND device_id = $2 ORDER BY id`, app, id)
	return scanRows(rs, err, []DeviceAuditEntry{}, func(r row) (DeviceAuditEntry, error) {
		var a DeviceAuditEntry
		var at int64
		err := r.Scan(&at, &a.What, &a.Serial, &a.Why, &a.Actor)
		a.At = fromUnix(at)
		return a, err
	})
}
