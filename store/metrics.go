package store

import "github.com/prometheus/client_golang/prometheus"

var descDropped = prometheus.NewDesc("pinset_reports_dropped_total",
	"Pin-failure reports dropped by report storage, by reason: duplicate (quota full: counted on the stored row of the same failure), "+
		"evicted_repeat (a stored repeat deleted to make room), quota_rows and quota_bytes (refused), retention (deleted when old).",
	[]string{"reason"}, nil)

// Collector exports s's report drops as pinset_reports_dropped_total{reason},
// every reason of DropReasons included (0 until it happens). Register it
// on the service's registry.
func Collector(s Store) prometheus.Collector { return dropCollector{s} }

type dropCollector struct{ s Store }

func (c dropCollector) Describe(ch chan<- *prometheus.Desc) { ch <- descDropped }

func (c dropCollector) Collect(ch chan<- prometheus.Metric) {
	n := c.s.ReportDrops()
	for _, r := range DropReasons {
		ch <- prometheus.MustNewConstMetric(descDropped, prometheus.CounterValue, float64(n[r]), r)
	}
}
