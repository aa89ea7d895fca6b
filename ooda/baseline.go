package ooda

import (
	"math"
	"slices"

	"github.com/hartonomous/ooda/store"
)

// Robust baselines: the median and the median absolute deviation (MAD) of a
// reading's recent history. Both ignore up to half the samples being wild,
// so one spike (or one bad cycle) does not move the noise band the way a
// mean and standard deviation would.

// MADScale turns a MAD into an estimate of the standard deviation of normal
// noise (1 / Φ⁻¹(3/4) ≈ 1.4826), as R's mad() and SciPy's
// median_abs_deviation(scale="normal") do.
const MADScale = 1.4826

// BandSigmas is how many (MAD-estimated) standard deviations of noise a
// change must exceed to count: 3, the usual robust outlier rule.
const BandSigmas = 3

// MinBaselineSamples is the fewest samples a baseline needs before
// ClassifyAgainst trusts it; with fewer it falls back to Classify's 10 %.
const MinBaselineSamples = 5

// ReadingKey names one reading series: a reading of one target object.
type ReadingKey struct {
	Name   string `json:"name"`
	Object string `json:"object"`
}

// Baseline is the robust centre and spread of one reading series over a
// window: Median, the raw (unscaled) median absolute deviation MAD, and the
// number N of finite samples they were computed from.
type Baseline struct {
	Median float64 `json:"median"`
	MAD    float64 `json:"mad"`
	N      int     `json:"n"`
}

// Baselines computes a baseline for each (name, object) in samples, over
// all the samples given (the caller picks the window, e.g. with
// store.Reader.ReadingHistory). NaN and infinite values are ignored; a key
// with no finite sample has no baseline. The order of samples does not
// matter.
func Baselines(samples []store.ReadingSample) map[ReadingKey]Baseline {
	series := map[ReadingKey][]float64{}
	for _, s := range samples {
		if math.IsNaN(s.Value) || math.IsInf(s.Value, 0) {
			continue
		}
		k := ReadingKey{Name: s.Name, Object: s.Object}
		series[k] = append(series[k], s.Value)
	}
	out := make(map[ReadingKey]Baseline, len(series))
	for k, vs := range series {
		out[k] = baselineOf(vs)
	}
	return out
}

// baselineOf computes the baseline of finite values (at least one); it
// reorders vs.
func baselineOf(vs []float64) Baseline {
	med := baselineMedian(vs)
	dev := make([]float64, len(vs))
	for i, v := range vs {
		dev[i] = math.Abs(v - med)
	}
	return Baseline{Median: med, MAD: baselineMedian(dev), N: len(vs)}
}

// baselineMedian sorts vs and returns its median: the middle value, or the
// mean of the two middle values of an even count.
func baselineMedian(vs []float64) float64 {
	slices.Sort(vs)
	n := len(vs)
	if n%2 == 1 {
		return vs[n/2]
	}
	return vs[n/2-1]/2 + vs[n/2]/2
}

// Band is the noise band around a value before an action: a change smaller
// than it is noise. It is the larger of rel·|before| (CATALOG: improved
// means more than 10 % better than before) and BandSigmas·MADScale·MAD,
// three robust standard deviations of the reading's own history, so that a
// noisy reading needs a larger change to count.
func (b Baseline) Band(before, rel float64) float64 {
	return max(rel*math.Abs(before), BandSigmas*MADScale*b.MAD)
}

// ClassifyAgainst compares a lower-is-better metric before and after an
// action: "improved" when after is below before by more than the band,
// "regressed" when above it by more than the band, "neutral" otherwise (a
// change exactly at the band's edge is neutral). The band is
// b.Band(before, Noise) when ok and b has at least MinBaselineSamples
// samples; otherwise the result is Classify's (a band of 10 % of before).
func ClassifyAgainst(before, after float64, b Baseline, ok bool) string {
	if !ok || b.N < MinBaselineSamples {
		return Classify(before, after)
	}
	band := b.Band(before, Noise)
	switch {
	case after < before-band:
		return "improved"
	case after > before+band:
		return "regressed"
	}
	return "neutral"
}
