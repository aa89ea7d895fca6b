package main

import (
	"context"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/hartonomous/ooda/broker"
	"github.com/hartonomous/ooda/broker/embedded"
	"github.com/hartonomous/ooda/ooda"
	"github.com/hartonomous/ooda/store"
)

// metrics are the daemon's Prometheus metrics. Counters and histograms come
// from the engine as it works; queue, outbox and NATS gauges are read when
// Prometheus scrapes.
type metrics struct {
	stage   *prometheus.HistogramVec
	cycles  *prometheus.CounterVec
	actions *prometheus.CounterVec
}

var _ ooda.Metrics = (*metrics)(nil)

func newMetrics(reg prometheus.Registerer, b broker.Broker, r store.Reader, nc *nats.Conn) *metrics {
	m := &metrics{
		stage: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "ooda_stage_step_duration_seconds",
			Help:    "Duration of stage steps (receive, handle, write, send, commit) by stage and outcome (ok, failed, dead_letter).",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16)}, []string{"stage", "outcome"}),
		cycles:  prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ooda_cycles_total", Help: "Cycles finished, by result (completed, failed)."}, []string{"result"}),
		actions: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ooda_actions_total", Help: "Actions by type and outcome (executed, dry_run, skipped, failed, awaiting_approval)."}, []string{"type", "outcome"}),
	}
	reg.MustRegister(m.stage, m.cycles, m.actions, &scrapeCollector{b: b, r: r, nc: nc})
	return m
}

func (m *metrics) StageStep(stage, outcome string, d time.Duration) {
	m.stage.WithLabelValues(stage, outcome).Observe(d.Seconds())
}
func (m *metrics) CycleFinished(status string) { m.cycles.WithLabelValues(status).Inc() }
func (m *metrics) ActionDone(actionType, status string) {
	m.actions.WithLabelValues(actionType, status).Inc()
}

var (
	descDepth    = prometheus.NewDesc("ooda_queue_depth", "Messages waiting in a queue.", []string{"queue"}, nil)
	descOldest   = prometheus.NewDesc("ooda_queue_oldest_message_age_seconds", "Age of the oldest message waiting in a queue (0 when empty).", []string{"queue"}, nil)
	descEnabled  = prometheus.NewDesc("ooda_queue_receive_enabled", "1 while a queue accepts RECEIVE; 0 once the poison rule disabled it.", []string{"queue"}, nil)
	descOutbox   = prometheus.NewDesc("ooda_outbox_events", "Events committed and not yet published to NATS (the outbox lag).", nil, nil)
	descDead     = prometheus.NewDesc("ooda_dead_letters", "Dead letters waiting (recorded and not redriven).", nil, nil)
	descNATS     = prometheus.NewDesc("ooda_nats_connected", "1 while the NATS connection is up.", nil, nil)
	descScrapeOK = prometheus.NewDesc("ooda_scrape_ok", "1 if reading the state for this scrape worked.", nil, nil)
	descSQL      = prometheus.NewDesc("ooda_sql_statements_total", "SQL statements the embedded engine ran (zero growth while idle: it waits on signals, not polls).", nil, nil)
)

// scrapeCollector reads the state at scrape time.
type scrapeCollector struct {
	b  broker.Broker
	r  store.Reader
	nc *nats.Conn

	mu  sync.Mutex
	own float64 // statements run by scrapes: not the loop's, so not counted
}

func (c *scrapeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descDepth, descOldest, descEnabled, descOutbox, descDead, descNATS, descScrapeOK, descSQL} {
		ch <- d
	}
}

func (c *scrapeCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s, ok := c.b.(interface{ Stats() embedded.Stats }); ok {
		before := float64(s.Stats().Statements)
		ch <- prometheus.MustNewConstMetric(descSQL, prometheus.CounterValue, before-c.own)
		defer func() { c.own += float64(s.Stats().Statements) - before }()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ok := 1.0
	for _, q := range []string{ooda.ObserveQueue, ooda.OrientQueue, ooda.DecideQueue, ooda.ActQueue} {
		st, err := c.b.QueueStatus(ctx, q)
		if err != nil {
			ok = 0
			continue
		}
		age, enabled := 0.0, 0.0
		if !st.OldestEnqueuedAt.IsZero() {
			age = time.Since(st.OldestEnqueuedAt).Seconds()
		}
		if st.ReceiveEnabled {
			enabled = 1
		}
		ch <- prometheus.MustNewConstMetric(descDepth, prometheus.GaugeValue, float64(st.Depth), q)
		ch <- prometheus.MustNewConstMetric(descOldest, prometheus.GaugeValue, age, q)
		ch <- prometheus.MustNewConstMetric(descEnabled, prometheus.GaugeValue, enabled, q)
	}
	if n, err := c.r.OutboxDepth(ctx); err == nil {
		ch <- prometheus.MustNewConstMetric(descOutbox, prometheus.GaugeValue, float64(n))
	} else {
		ok = 0
	}
	if n, err := c.r.DeadLetterCount(ctx); err == nil {
		ch <- prometheus.MustNewConstMetric(descDead, prometheus.GaugeValue, float64(n))
	} else {
		ok = 0
	}
	connected := 0.0
	if c.nc != nil && c.nc.Status() == nats.CONNECTED {
		connected = 1
	}
	ch <- prometheus.MustNewConstMetric(descNATS, prometheus.GaugeValue, connected)
	ch <- prometheus.MustNewConstMetric(descScrapeOK, prometheus.GaugeValue, ok)
}
