package sandbox

import "github.com/prometheus/client_golang/prometheus"

// Metrics count the pool's workers. Labels come from closed sets: kill
// reasons and the configured task kinds; no bot id is ever a label.
type Metrics struct {
	Live        prometheus.Gauge
	Spawns      prometheus.Counter
	Kills       *prometheus.CounterVec
	TaskSeconds *prometheus.HistogramVec
	// Confined is 1 when workers run confined, 0 when they do not.
	Confined prometheus.Gauge
}

// NewMetrics makes the pool's metric families, with every kill reason and
// task kind present from the start.
func NewMetrics(kinds []string) *Metrics {
	m := &Metrics{
		Live: prometheus.NewGauge(prometheus.GaugeOpts{Name: "palisade_sandbox_workers",
			Help: "Bot worker processes alive now."}),
		Spawns: prometheus.NewCounter(prometheus.CounterOpts{Name: "palisade_sandbox_worker_spawns_total",
			Help: "Bot worker processes started."}),
		Kills: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "palisade_sandbox_worker_kills_total",
			Help: "Bot worker processes stopped, by reason (deadline, crashed, protocol, idle, evicted, retired, unresponsive, shutdown)."}, []string{"reason"}),
		TaskSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "palisade_sandbox_task_seconds",
			Help:    "Latency of a task in a bot worker, by task kind, whatever its outcome.",
			Buckets: []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120}}, []string{"kind"}),
		Confined: prometheus.NewGauge(prometheus.GaugeOpts{Name: "palisade_sandbox_confined",
			Help: "1 when bot workers run confined (namespaces, seccomp, empty root), 0 when they run unconfined."}),
	}
	for _, r := range killReasons {
		m.Kills.WithLabelValues(r)
	}
	for _, k := range append([]string{statusKind, "other"}, kinds...) {
		m.TaskSeconds.WithLabelValues(k)
	}
	return m
}

// Collectors lists the families, for registering.
func (m *Metrics) Collectors() []prometheus.Collector {
	return []prometheus.Collector{m.Live, m.Spawns, m.Kills, m.TaskSeconds, m.Confined}
}
