package serveconfig

import (
	"fmt"
	"time"

	"pinset.dev/pinset/device"
	"pinset.dev/pinset/internal/input"
	"pinset.dev/pinset/server"
)

// Devices is the devices section: the device CA that issues client
// certificates to managed devices (docs/devices.md).
//
//	devices:
//	  ca_cert: /etc/pinset/device-ca.pem   # from 'pinset device ca new'
//	  ca_key: /etc/pinset/device-ca.key
//	  lifetime: 7d          # issued certificates (at most 397d)
//	  token_lifetime: 24h   # enrollment tokens
//	  crl_validity: 24h     # the CRL's nextUpdate
//	  crl_cache: 1m         # one CRL served this long
type Devices struct {
	CACert        string `yaml:"ca_cert"`
	CAKey         string `yaml:"ca_key"`
	Lifetime      string `yaml:"lifetime"`
	TokenLifetime string `yaml:"token_lifetime"`
	CRLValidity   string `yaml:"crl_validity"`
	CRLCache      string `yaml:"crl_cache"`
}

func (d *Devices) apply(sc *server.Config) error {
	if d == nil {
		return nil
	}
	if d.CACert == "" || d.CAKey == "" {
		return fmt.Errorf("devices: ca_cert and ca_key are required (make them with 'pinset device ca new')")
	}
	cert, err := input.Read(d.CACert, 64<<10)
	if err != nil {
		return fmt.Errorf("devices.ca_cert: %w", err)
	}
	key, err := input.Read(d.CAKey, 64<<10)
	if err != nil {
		return fmt.Errorf("devices.ca_key: %w", err)
	}
	ca, err := device.ParseCA(cert, key)
	if err != nil {
		return fmt.Errorf("devices: %w", err)
	}
	a := &device.Authority{CA: ca}
	for _, o := range []struct {
		name string
		s    string
		dst  *time.Duration
	}{
		{"devices.lifetime", d.Lifetime, &a.Lifetime}, {"devices.token_lifetime", d.TokenLifetime, &a.TokenLifetime},
		{"devices.crl_validity", d.CRLValidity, &a.CRLValidity}, {"devices.crl_cache", d.CRLCache, &a.CRLCache},
	} {
		v, err := optDuration(o.name, o.s, 0)
		if err != nil {
			return err
		}
		if v < 0 {
			return fmt.Errorf("%s: must be positive", o.name)
		}
		*o.dst = v
	}
	if a.Lifetime > device.MaxLifetime {
		return fmt.Errorf("devices.lifetime: at most %s", device.MaxLifetime)
	}
	sc.Devices = a
	return nil
}
