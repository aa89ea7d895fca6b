package anomaly

import (
	"math"
	"time"
)

// LatencySample is one inference request: how long it took, how many
// tokens it handled, and when it started.
type LatencySample struct {
	Duration time.Duration
	Tokens   float64
	At       time.Time
}

// LatencyFeatures are the Hartonomous inference-latency features (CATALOG,
// and the Hartonomous sp_Analyze procedure): per sample
// (duration ÷ mean duration, tokens ÷ 1000, hour ÷ 24, weekday ÷ 7).
// Hour and weekday are of At in UTC (the Hartonomous tables store
// SYSUTCDATETIME()); the weekday counts from Sunday = 0. A zero mean
// duration makes the first feature 0; NaN or infinite tokens count as 0.
func LatencyFeatures(samples []LatencySample) [][]float64 {
	mean := 0.0
	for _, s := range samples {
		mean += float64(s.Duration)
	}
	if len(samples) > 0 {
		mean /= float64(len(samples))
	}
	out := make([][]float64, len(samples))
	for i, s := range samples {
		d := 0.0
		if mean != 0 {
			d = float64(s.Duration) / mean
		}
		tok := s.Tokens
		if math.IsNaN(tok) || math.IsInf(tok, 0) {
			tok = 0
		}
		at := s.At.UTC()
		out[i] = []float64{d, tok / 1000, float64(at.Hour()) / 24, float64(at.Weekday()) / 7}
	}
	return out
}

// DetectOptions configures Detect. Zero values take the defaults.
type DetectOptions struct {
	// Forest configures the isolation forest (100 trees, ψ = 256, Seed).
	Forest ForestOptions
	// ForestThreshold: anomalous above. Default DefaultForestThreshold (0.7).
	ForestThreshold float64
	// K is LOF's neighbourhood size. Default DefaultK (5).
	K int
	// LOFThreshold: anomalous above. Default DefaultLOFThreshold (1.5).
	LOFThreshold float64
}

func (o DetectOptions) withDefaults() DetectOptions {
	if o.ForestThreshold <= 0 {
		o.ForestThreshold = DefaultForestThreshold
	}
	if o.K <= 0 {
		o.K = DefaultK
	}
	if o.LOFThreshold <= 0 {
		o.LOFThreshold = DefaultLOFThreshold
	}
	if o.Forest.Trees < 0 {
		o.Forest.Trees = 0
	}
	if o.Forest.SampleSize < 0 {
		o.Forest.SampleSize = 0
	}
	return o
}

// Outlier is a sample that either method scored above its threshold, with
// both scores.
type Outlier struct {
	// Index of the sample in the input.
	Index int `json:"index"`
	// Forest is the isolation-forest score, LOF the local outlier factor.
	Forest float64 `json:"forest"`
	LOF    float64 `json:"lof"`
	// ByForest and ByLOF say which threshold the sample crossed.
	ByForest bool `json:"by_forest"`
	ByLOF    bool `json:"by_lof"`
}

// Detect scores the latency features of samples with an isolation forest
// and LOF and returns, in input order, every sample whose forest score is
// above ForestThreshold or whose LOF is above LOFThreshold. It is
// deterministic for a given Forest.Seed. With no more than K samples there
// is no neighbourhood to compare with and it returns nil (too few samples
// to call anything an outlier); zero or negative options take their
// defaults.
func Detect(samples []LatencySample, opt DetectOptions) []Outlier {
	opt = opt.withDefaults()
	if len(samples) <= opt.K {
		return nil
	}
	x := LatencyFeatures(samples)
	f, err := NewForest(x, opt.Forest)
	if err != nil {
		return nil // unreachable: the features are finite and rectangular
	}
	lof, err := LOF(x, opt.K)
	if err != nil {
		return nil // unreachable: len(samples) > K ≥ 1
	}
	var out []Outlier
	for i, xi := range x {
		s := f.Score(xi)
		o := Outlier{Index: i, Forest: s, LOF: lof[i], ByForest: s > opt.ForestThreshold, ByLOF: lof[i] > opt.LOFThreshold}
		if o.ByForest || o.ByLOF {
			out = append(out, o)
		}
	}
	return out
}
