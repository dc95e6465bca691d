package server

import (
	"crypto/x509"
	"errors"
	"io"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"pinset.dev/pinset/device"
	"pinset.dev/pinset/internal/input"
)

// Device certificates (docs/devices.md): package device decides, these
// handlers read requests, map its typed errors to answers, log and count.

// deviceRate and deviceBurst bound enrollment and renewal requests per
// client address (CSR checks and signatures cost CPU).
const (
	deviceRate  = 1.0
	deviceBurst = 20
)

type deviceService struct {
	auth    *device.Authority
	limiter *limiter
	count   *prometheus.CounterVec
}

func (s *Server) initDevices() error {
	if s.cfg.Devices == nil {
		return nil
	}
	if s.cfg.Devices.Store == nil { // serve's configuration leaves it to the server
		s.cfg.Devices.Store = s.store
	}
	if err := s.cfg.Devices.Check(); err != nil {
		return err
	}
	d := &deviceService{auth: s.cfg.Devices, limiter: newLimiter(deviceRate, deviceBurst, s.now),
		count: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pinset_device_certificates_total",
			Help: "Device certificate requests by action (token, enroll, renew, revoke, crl) and result (ok or the refusal code).",
		}, []string{"action", "result"})}
	if err := s.reg.Register(d.count); err != nil {
		return err
	}
	s.devices = d
	return nil
}

func (s *Server) deviceRoutes(pub, adm func(string, http.HandlerFunc)) {
	if s.devices == nil {
		return
	}
	adm("POST /v1/admin/apps/{app}/devices/tokens", s.handleDeviceToken)
	adm("POST /v1/admin/apps/{app}/devices/{id}/revoke", s.handleDeviceRevoke)
	adm("GET /v1/admin/apps/{app}/devices/{id}/audit", s.handleDeviceAudit)
	pub("POST /v1/apps/{app}/devices/enroll", s.handleDeviceEnroll)
	pub("POST /v1/apps/{app}/devices/renew", s.handleDeviceRenew)
	pub("GET /v1/apps/{app}/devices/crl", s.handleDeviceCRL)
}

// deviceStatus maps the authority's errors to the HTTP status and code.
func deviceStatus(err error) (int, string) {
	a := answerFor(err, deviceAnswers, answer{Status: http.StatusInternalServerError, Code: "internal"})
	return a.Status, a.Code
}

// deviceAnswers are deviceStatus's answers, the first that matches decides.
var deviceAnswers = []answer{
	{device.ErrTooLarge, http.StatusRequestEntityTooLarge, "too_large"},
	{device.ErrMalformed, http.StatusBadRequest, "malformed"},
	{device.ErrBadCSR, http.StatusBadRequest, "bad_csr"},
	{device.ErrBadToken, http.StatusForbidden, "bad_token"},
	{device.ErrRevoked, http.StatusForbidden, "revoked"},
	{device.ErrNotDeviceCert, http.StatusForbidden, "not_device_certificate"},
	{device.ErrKeyMismatch, http.StatusForbidden, "key_mismatch"},
	{device.ErrUnknownDevice, http.StatusNotFound, "not_found"},
}

// deviceRefuse answers a refused device request and counts it.
func (s *Server) deviceRefuse(w http.ResponseWriter, r *http.Request, action, app string, err error) {
	code, reason := deviceStatus(err)
	s.devices.count.WithLabelValues(action, reason).Inc()
	if code >= 500 {
		s.internalError(w, r, err)
		return
	}
	s.log.Warn("device request refused", "action", action, "app", app, "code", reason, "reason", err.Error(), "remote", clientAddr(r))
	writeError(w, code, reason, err.Error())
}

// deviceLimited applies the per-address limit of public device requests.
func (s *Server) deviceLimited(w http.ResponseWriter, r *http.Request, action string) bool {
	ok, wait := s.devices.limiter.allow(clientAddr(r))
	if ok {
		return false
	}
	s.devices.count.WithLabelValues(action, "rate_limited").Inc()
	w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
	writeError(w, http.StatusTooManyRequests, "rate_limited", "too many device requests from this address; retry later")
	return true
}

// tokenRequest is the optional body of POST .../devices/tokens.
type tokenRequest struct {
	DeviceID string `json:"device_id"`
}

// revokeRequest is the optional body of POST .../devices/{id}/revoke.
type revokeRequest struct {
	Reason string `json:"reason"`
}

// decodeOptional decodes a small optional JSON body strictly (empty is
// the zero value).
func decodeOptional(r *http.Request, v any) error {
	err := input.DecodeJSON(r.Body, 4<<10, v)
	switch {
	case err == nil, errors.Is(err, io.EOF):
		return nil
	case errors.Is(err, input.ErrTooLarge):
		return errors.Join(device.ErrTooLarge, err)
	default:
		return errors.Join(device.ErrMalformed, err)
	}
}

func (s *Server) handleDeviceToken(w http.ResponseWriter, r *http.Request) {
	app := r.PathValue("app")
	if !s.knownApp(w, r, app) {
		return
	}
	var req tokenRequest
	err := decodeOptional(r, &req)
	var tok *device.Token
	if err == nil {
		tok, err = s.devices.auth.NewToken(r.Context(), app, req.DeviceID, tokenName(r.Context()), s.now())
	}
	if err != nil {
		s.deviceRefuse(w, r, "token", app, err)
		return
	}
	s.devices.count.WithLabelValues("token", "ok").Inc()
	s.log.Info("device enrollment token created", "app", app, "device", tok.DeviceID, "expires", tok.ExpiresAt, "token", tokenName(r.Context()))
	writeJSON(w, http.StatusCreated, tok)
}

func (s *Server) handleDeviceEnroll(w http.ResponseWriter, r *http.Request) {
	issueDevice(s, w, r, "enroll", device.DecodeEnrollRequest, func(app string, req *device.EnrollRequest) (*device.Issued, error) {
		return s.devices.auth.Enroll(r.Context(), app, req, s.now())
	})
}

func (s *Server) handleDeviceRenew(w http.ResponseWriter, r *http.Request) {
	issueDevice(s, w, r, "renew", device.DecodeRenewRequest, func(app string, req *device.RenewRequest) (*device.Issued, error) {
		// The certificate presented in the handshake wins; without one,
		// the request carries it and the CSR must be signed by its key.
		viaTLS := r.TLS != nil && len(r.TLS.PeerCertificates) > 0
		chain := []*x509.Certificate(nil)
		var err error
		if viaTLS {
			chain = r.TLS.PeerCertificates
		} else if req.Certificate == "" {
			return nil, errors.Join(device.ErrNotDeviceCert, errors.New("present the current certificate over mutual TLS or in the certificate field"))
		} else if chain, err = device.ParseChainPEM(req.Certificate); err != nil {
			return nil, err
		}
		return s.devices.auth.Renew(r.Context(), app, chain, viaTLS, req.CSR, s.now())
	})
}

// issueDevice answers an enrollment or a renewal (action): refused when
// the client is over its limit or the app unknown; otherwise the body is
// decoded by decode and the certificate issued by issue, and the answer is
// the issued certificate or the refusal (counted, logged).
func issueDevice[Req any](s *Server, w http.ResponseWriter, r *http.Request, action string,
	decode func(io.Reader) (Req, error), issue func(app string, req Req) (*device.Issued, error)) {
	app := r.PathValue("app")
	if s.deviceLimited(w, r, action) || !s.knownApp(w, r, app) {
		return
	}
	req, err := decode(r.Body)
	var iss *device.Issued
	if err == nil {
		iss, err = issue(app, req)
	}
	if err != nil {
		s.deviceRefuse(w, r, action, app, err)
		return
	}
	s.devices.count.WithLabelValues(action, "ok").Inc()
	s.log.Info("device certificate issued", "action", action, "app", app, "device", iss.ID, "serial", iss.Serial, "not_after", iss.NotAfter)
	writeJSON(w, http.StatusCreated, iss)
}

func (s *Server) handleDeviceRevoke(w http.ResponseWriter, r *http.Request) {
	app, id := r.PathValue("app"), r.PathValue("id")
	if !s.knownApp(w, r, app) {
		return
	}
	var req revokeRequest
	err := decodeOptional(r, &req)
	var n int64
	if err == nil {
		n, err = s.devices.auth.Revoke(r.Context(), app, id, req.Reason, tokenName(r.Context()), s.now())
	}
	if err != nil {
		s.deviceRefuse(w, r, "revoke", app, err)
		return
	}
	s.devices.count.WithLabelValues("revoke", "ok").Inc()
	s.log.Warn("device revoked", "app", app, "device", id, "certificates", n, "token", tokenName(r.Context()))
	writeJSON(w, http.StatusOK, map[string]any{"app": app, "device_id": id, "revoked_certificates": n})
}

func (s *Server) handleDeviceAudit(w http.ResponseWriter, r *http.Request) {
	app, id := r.PathValue("app"), r.PathValue("id")
	if !s.knownApp(w, r, app) {
		return
	}
	audit, err := s.devices.auth.Audit(r.Context(), app, id)
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"app": app, "device_id": id, "audit": audit})
}

// handleDeviceCRL serves the app's CRL (DER, RFC 5280), cacheable until
// the next one is made.
func (s *Server) handleDeviceCRL(w http.ResponseWriter, r *http.Request) {
	app := r.PathValue("app")
	if !s.knownApp(w, r, app) {
		return
	}
	now := s.now()
	crl, err := s.devices.auth.CRL(r.Context(), app, now)
	if err != nil {
		s.deviceRefuse(w, r, "crl", app, err)
		return
	}
	s.devices.count.WithLabelValues("crl", "ok").Inc()
	age := max(0, int(crl.ThisUpdate.Add(s.devices.cacheFor()).Sub(now).Seconds()))
	w.Header().Set("Content-Type", "application/pkix-crl")
	w.Header().Set("Cache-Control", "public, max-age="+strconv.Itoa(age))
	w.Header().Set("Last-Modified", crl.ThisUpdate.UTC().Format(http.TimeFormat))
	w.Header().Set("Pinset-CRL-Number", strconv.FormatInt(crl.Number, 10))
	w.Write(crl.DER)
}

func (d *deviceService) cacheFor() time.Duration {
	if d.auth.CRLCache > 0 {
		return d.auth.CRLCache
	}
	return device.DefaultCRLCache
}
