package renew

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"pinset.dev/pinset/certs"
	"pinset.dev/pinset/pin"
)

// Status is the schedule of one key of one host, as the monitor's alerts
// and the metrics show it.
type Status struct {
	Host string
	// Key is Live or Next.
	Key string
	// Pin is the key's pin; zero when the host's ring could not be read.
	Pin pin.Pin
	// NotAfter is the expiry of the key's certificate; zero when it has
	// none yet.
	NotAfter time.Time
	// RenewAt is when the certificate is (or was) to be renewed; with no
	// certificate, since when one is missing.
	RenewAt time.Time
	// Source is certs.Plan.Source ("ari" or "two-thirds").
	Source string
	// ARINext is when the CA's renewal information is asked for again
	// (its Retry-After, clamped).
	ARINext time.Time
	// ARIError is the last failure to read the CA's renewal information.
	ARIError string
	// Failures counts the host's failed ticks in a row; LastError is the
	// last one's error.
	Failures  int
	LastError string
	// LastSuccess is when the host last got a certificate (this process).
	LastSuccess time.Time
	// NextAttempt is when a failing host tries again.
	NextAttempt time.Time
	// Failing: the host failed FailingAfter ticks in a row.
	Failing bool
	// Overdue: the renewal time has passed and the certificate was not
	// renewed, after a failure or for longer than OverdueAfter; or the
	// certificate has expired.
	Overdue bool
}

// Status reports every host's keys at now: the one place that decides
// whether a host is failing and whether a renewal is overdue (the
// monitor maps these to alerts, the metrics show them).
func (s *Scheduler) Status(now time.Time) []Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Status
	for i, tg := range s.cfg.Targets {
		hs := s.hosts[i]
		for j, role := range []string{Live, Next} {
			ks := hs.keys[j]
			if role == Next && ks.pin.IsZero() {
				continue
			}
			st := Status{Host: tg.Host, Key: role, Pin: ks.pin, NotAfter: ks.notAfter, ARINext: ks.ariNext, ARIError: ks.ariErr,
				Failures: hs.failures, LastError: hs.lastErr, LastSuccess: hs.lastSuccess, NextAttempt: hs.nextAttempt,
				Failing: hs.failures >= s.cfg.FailingAfter}
			switch {
			case !ks.notAfter.IsZero():
				plan := certs.Schedule(ks.notBefore, ks.notAfter, ks.ari, now, ks.pick)
				st.RenewAt, st.Source = plan.At, plan.Source
				st.Overdue = plan.Due && (hs.failures > 0 || !now.Before(plan.At.Add(s.cfg.OverdueAfter))) || now.After(ks.notAfter)
			case !ks.missingSince.IsZero():
				st.RenewAt = ks.missingSince
				st.Overdue = hs.failures > 0 || !now.Before(ks.missingSince.Add(s.cfg.OverdueAfter))
			}
			out = append(out, st)
		}
	}
	return out
}

// Collector exports the schedule: pinset_acme_renewals_total and, at
// scrape time, each key's certificate expiry and renewal time, each
// host's last success, failures in a row, failing and overdue flags.
// Labels are the configured hosts and the two key roles: bounded.
func (s *Scheduler) Collector() prometheus.Collector { return &collector{s: s} }

type collector struct{ s *Scheduler }

var (
	descExpiry = prometheus.NewDesc("pinset_acme_certificate_expiry_timestamp_seconds",
		"Expiry of the certificate the ACME schedule holds for a host's key (live or next).", []string{"host", "key"}, nil)
	descRenewAt = prometheus.NewDesc("pinset_acme_renewal_timestamp_seconds",
		"When the certificate of a host's key is to be renewed (ARI window or two thirds of the lifetime).", []string{"host", "key"}, nil)
	descOverdue = prometheus.NewDesc("pinset_acme_renewal_overdue",
		"1 when a host key's renewal time has passed without a renewal (PinsetRenewalOverdue).", []string{"host", "key"}, nil)
	descLastSuccess = prometheus.NewDesc("pinset_acme_last_success_timestamp_seconds",
		"When the ACME schedule last got a certificate for a host (since the service started).", []string{"host"}, nil)
	descFailures = prometheus.NewDesc("pinset_acme_consecutive_failures",
		"Failed ticks in a row of a host's ACME schedule.", []string{"host"}, nil)
	descFailing = prometheus.NewDesc("pinset_acme_failing",
		"1 when a host's ACME schedule failed FailingAfter ticks in a row (PinsetACMEFailing).", []string{"host"}, nil)
)

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	c.s.renewals.Describe(ch)
	for _, d := range []*prometheus.Desc{descExpiry, descRenewAt, descOverdue, descLastSuccess, descFailures, descFailing} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	c.s.renewals.Collect(ch)
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	flag := map[bool]float64{false: 0, true: 1}
	for _, st := range c.s.Status(c.s.cfg.Now()) {
		if !st.NotAfter.IsZero() {
			gauge(descExpiry, float64(st.NotAfter.Unix()), st.Host, st.Key)
		}
		if !st.RenewAt.IsZero() {
			gauge(descRenewAt, float64(st.RenewAt.Unix()), st.Host, st.Key)
		}
		gauge(descOverdue, flag[st.Overdue], st.Host, st.Key)
		if st.Key != Live {
			continue
		}
		if !st.LastSuccess.IsZero() {
			gauge(descLastSuccess, float64(st.LastSuccess.Unix()), st.Host)
		}
		gauge(descFailures, float64(st.Failures), st.Host)
		gauge(descFailing, flag[st.Failing], st.Host)
	}
}
