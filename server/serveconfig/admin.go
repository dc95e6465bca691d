package serveconfig

import (
	"crypto/tls"
	"errors"
	"fmt"
)

// The admin listener: with admin_listen, the admin API (/v1/admin/...,
// the monitor's admin endpoints) and the console (/console/) are served
// on that address only, with their own TLS certificate (admin_tls_cert,
// admin_tls_key) and, with admin_client_ca, client certificates required
// at its handshake. The main listener (listen) then serves apps and
// reports only.
//
//	listen: 0.0.0.0:8443
//	tls_cert: /etc/pinset/tls.crt
//	tls_key: /etc/pinset/tls.key
//	admin_listen: 10.0.0.5:9443
//	admin_tls_cert: /etc/pinset/admin.crt
//	admin_tls_key: /etc/pinset/admin.key
//	admin_client_ca: /etc/pinset/admin-ca.pem

// ErrAdminListenCANeedsTLS: admin_client_ca with admin_listen but without
// admin_tls_cert and admin_tls_key.
var ErrAdminListenCANeedsTLS = errors.New("admin_client_ca with admin_listen needs admin_tls_cert and admin_tls_key")

// adminTLS loads the admin listener's certificate (nil: plain HTTP, or no
// admin listener).
func (f *File) adminTLS() (*tls.Certificate, error) {
	if (f.AdminTLSCert == "") != (f.AdminTLSKey == "") {
		return nil, errors.New("admin_tls_cert and admin_tls_key go together")
	}
	if f.AdminTLSCert == "" {
		return nil, nil
	}
	if f.AdminListen == "" {
		return nil, errors.New("admin_tls_cert without admin_listen: the admin API is served on listen, with tls_cert")
	}
	c, err := tls.LoadX509KeyPair(f.AdminTLSCert, f.AdminTLSKey)
	if err != nil {
		return nil, fmt.Errorf("admin_tls_cert %s: %v", f.AdminTLSCert, err)
	}
	return &c, nil
}
