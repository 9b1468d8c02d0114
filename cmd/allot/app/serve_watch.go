package app

import (
	"github.com/prometheus/client_golang/prometheus"
)

// watchSynced exports, at each scrape, whether the drift watch has listed
// every kind it watches on each cluster.
type watchSynced struct {
	desc   *prometheus.Desc
	synced func() map[string]bool
}

func newWatchSynced(synced func() map[string]bool) *watchSynced {
	return &watchSynced{
		desc:   prometheus.NewDesc("allot_drift_watch_synced", "1 once the drift watch has listed every kind it watches on a cluster, so that no change can be missed; 0 before.", []string{"cluster"}, nil),
		synced: synced,
	}
}

// Describe implements prometheus.Collector.
func (c *watchSynced) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

// Collect implements prometheus.Collector.
func (c *watchSynced) Collect(ch chan<- prometheus.Metric) {
	for cluster, ok := range c.synced() {
		v := 0.0
		if ok {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, v, cluster)
	}
}
