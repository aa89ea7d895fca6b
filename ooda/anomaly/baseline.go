package anomaly

import (
	"math"
	"slices"
)

// MADScale turns a median absolute deviation into an estimate of the
// standard deviation of normally distributed data: σ ≈ 1.4826 × MAD
// (1 / Φ⁻¹(3/4)).
const MADScale = 1.4826

// Median is the median of xs (the mean of the two middle values for an
// even count), NaN for none. NaN values are ignored. xs is not modified.
func Median(xs []float64) float64 {
	s := make([]float64, 0, len(xs))
	for _, x := range xs {
		if !math.IsNaN(x) {
			s = append(s, x)
		}
	}
	if len(s) == 0 {
		return math.NaN()
	}
	slices.Sort(s)
	m := len(s) / 2
	if len(s)%2 == 1 {
		return s[m]
	}
	return (s[m-1] + s[m]) / 2
}

// MAD is the raw median absolute deviation of xs from their median, NaN
// for none; multiply by MADScale for a robust σ. NaN values are ignored.
func MAD(xs []float64) float64 {
	m := Median(xs)
	if math.IsNaN(m) {
		return m
	}
	dev := make([]float64, 0, len(xs))
	for _, x := range xs {
		if !math.IsNaN(x) {
			dev = append(dev, math.Abs(x-m))
		}
	}
	return Median(dev)
}
