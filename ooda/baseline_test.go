package ooda_test

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/hartonomous/ooda/ooda"
	"github.com/hartonomous/ooda/store"
)

func series(name, object string, vs ...float64) []store.ReadingSample {
	t0 := time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC)
	out := make([]store.ReadingSample, len(vs))
	for i, v := range vs {
		out[i] = store.ReadingSample{Name: name, Object: object, Value: v, At: t0.Add(-time.Duration(i) * time.Minute)}
	}
	return out
}

// Median and MAD against reference values: the textbook example of the MAD
// (Wikipedia, "Median absolute deviation": {1, 1, 2, 2, 4, 6, 9} has median
// 2 and MAD 1), R's mad(c(1, 2, 3, 4, 100), constant = 1) = 1, an even
// count (mean of the middle two), and the robustness that is the point of
// it: one wild sample moves neither.
func TestBaselineReferenceValues(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name        string
		values      []float64
		median, mad float64
	}{
		{"WikipediaExample", []float64{1, 1, 2, 2, 4, 6, 9}, 2, 1},
		{"ROutlier", []float64{1, 2, 3, 4, 100}, 3, 1},
		{"EvenCount", []float64{4, 1, 3, 2}, 2.5, 1},
		{"Single", []float64{7}, 7, 0},
		{"Constant", []float64{5, 5, 5, 5, 5}, 5, 0},
		{"OneSpikeMovesNothing", []float64{10, 10, 10, 11, 9, 10, 1e9}, 10, 0},
		{"Negative", []float64{-3, -1, -2, -10, -2}, -2, 1},
		{"NonFiniteIgnored", []float64{1, math.NaN(), 2, math.Inf(1), 3, math.Inf(-1)}, 2, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			bs := ooda.Baselines(series("r", "o", c.values...))
			b, ok := bs[ooda.ReadingKey{Name: "r", Object: "o"}]
			finite := 0
			for _, v := range c.values {
				if !math.IsNaN(v) && !math.IsInf(v, 0) {
					finite++
				}
			}
			if !ok || len(bs) != 1 || b.Median != c.median || b.MAD != c.mad || b.N != finite {
				t.Fatalf("baseline of %v = %+v (%v, %d keys), want median %g, MAD %g, N %d", c.values, b, ok, len(bs), c.median, c.mad, finite)
			}
		})
	}
}

// Each (name, object) gets its own baseline, objects differing only in case
// are different series, a series with no finite value has none, and the
// order of the samples does not matter (a seeded shuffle).
func TestBaselinesPerKey(t *testing.T) {
	t.Parallel()
	var all []store.ReadingSample
	all = append(all, series("frag", "ix", 10, 12, 11, 13, 50)...)
	all = append(all, series("frag", "IX", 1, 2, 3)...)
	all = append(all, series("pages", "ix", 100, 200)...)
	all = append(all, series("broken", "ix", math.NaN(), math.Inf(1))...)
	want := map[ooda.ReadingKey]ooda.Baseline{
		{Name: "frag", Object: "ix"}:  {Median: 12, MAD: 1, N: 5},
		{Name: "frag", Object: "IX"}:  {Median: 2, MAD: 1, N: 3},
		{Name: "pages", Object: "ix"}: {Median: 150, MAD: 50, N: 2},
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 20 {
		rng.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
		got := ooda.Baselines(all)
		if len(got) != len(want) {
			t.Fatalf("round %d: %d baselines %v, want %v", round, len(got), got, want)
		}
		for k, w := range want {
			if got[k] != w {
				t.Fatalf("round %d: %+v: %+v, want %+v", round, k, got[k], w)
			}
		}
	}
	if got := ooda.Baselines(nil); len(got) != 0 {
		t.Fatalf("no samples: %v", got)
	}
}

func TestBand(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name   string
		b      ooda.Baseline
		before float64
		rel    float64
		want   float64
	}{
		{"RelativeFloorWins", ooda.Baseline{Median: 100, MAD: 1, N: 10}, 100, 0.10, 10},        // 3·1.4826·1 = 4.4478 < 10
		{"NoiseWins", ooda.Baseline{Median: 100, MAD: 5, N: 10}, 100, 0.10, 3 * 1.4826 * 5},    // 22.239 > 10
		{"NegativeBeforeUsesItsSize", ooda.Baseline{Median: 5, MAD: 0, N: 10}, -200, 0.10, 20}, // |−200|·0.1
		{"RelativeToBeforeNotMedian", ooda.Baseline{Median: 500, MAD: 0, N: 10}, 5000, 0.10, 500},
		{"SteadyZero", ooda.Baseline{Median: 0, MAD: 0, N: 10}, 0, 0.10, 0},
		{"NoRelativeFloor", ooda.Baseline{Median: 100, MAD: 1, N: 10}, 100, 0, 3 * 1.4826},
	} {
		if got := c.b.Band(c.before, c.rel); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("%s: %+v.Band(%g, %g) = %g, want %g", c.name, c.b, c.before, c.rel, got, c.want)
		}
	}
}

// ClassifyAgainst at, just below and just above both edges of the band
// (math.Nextafter: the nearest float on either side), with a baseline whose
// band is the relative floor, one whose band is the noise, a steady series
// (band 0), and without a usable baseline (Classify's 10 % of before).
func TestClassifyAgainstAtTheBandEdges(t *testing.T) {
	t.Parallel()
	up := func(x float64) float64 { return math.Nextafter(x, math.Inf(1)) }
	down := func(x float64) float64 { return math.Nextafter(x, math.Inf(-1)) }
	relative := ooda.Baseline{Median: 100, MAD: 1, N: 10} // band 10
	noisy := ooda.Baseline{Median: 100, MAD: 5, N: 10}    // band 22.239
	steady := ooda.Baseline{Median: 0, MAD: 0, N: 10}     // band 0
	thin := ooda.Baseline{Median: 100, MAD: 5, N: 4}      // too few samples
	spiky := ooda.Baseline{Median: 100, MAD: 1, N: 30}    // band 10, before far above it
	noisyBand := noisy.Band(100, ooda.Noise)
	// Classify's edges, as it computes them in float64 (100·1.1 is
	// 110.00000000000001; a constant expression would be exact).
	hundred := 100.0
	lo, hi := hundred*(1-ooda.Noise), hundred*(1+ooda.Noise)
	for _, c := range []struct {
		name          string
		before, after float64
		b             ooda.Baseline
		ok            bool
		want          string
	}{
		// Relative floor: band = 10 around before = 100.
		{"RelativeBelowLowerEdge", 100, down(90), relative, true, "improved"},
		{"RelativeAtLowerEdge", 100, 90, relative, true, "neutral"},
		{"RelativeAboveLowerEdge", 100, up(90), relative, true, "neutral"},
		{"RelativeUnchanged", 100, 100, relative, true, "neutral"},
		{"RelativeBelowUpperEdge", 100, down(110), relative, true, "neutral"},
		{"RelativeAtUpperEdge", 100, 110, relative, true, "neutral"},
		{"RelativeAboveUpperEdge", 100, up(110), relative, true, "regressed"},
		// Noise: band = 3·1.4826·5 = 22.239 — a 15 % rise is noise here,
		// though Classify would call it a regression.
		{"NoisyBelowLowerEdge", 100, down(100 - noisyBand), noisy, true, "improved"},
		{"NoisyAtLowerEdge", 100, 100 - noisyBand, noisy, true, "neutral"},
		{"NoisyAboveLowerEdge", 100, up(100 - noisyBand), noisy, true, "neutral"},
		{"NoisyFifteenPercentIsNoise", 100, 115, noisy, true, "neutral"},
		{"NoisyBelowUpperEdge", 100, down(100 + noisyBand), noisy, true, "neutral"},
		{"NoisyAtUpperEdge", 100, 100 + noisyBand, noisy, true, "neutral"},
		{"NoisyAboveUpperEdge", 100, up(100 + noisyBand), noisy, true, "regressed"},
		// The band is relative to the value before, not to the history's
		// median: from a spike of 200, 185 is within its 10 % (20).
		{"SpikeBackTowardsBaseline", 200, 185, spiky, true, "neutral"},
		{"SpikeFallsFurther", 200, down(180), spiky, true, "improved"},
		{"SpikeWithoutBaseline", 200, 185, spiky, false, "neutral"},
		// Steady zero: any rise is a regression, no change is neutral.
		{"SteadyUnchanged", 0, 0, steady, true, "neutral"},
		{"SteadyAnyRise", 0, up(0), steady, true, "regressed"},
		{"SteadyAnyFall", 0, down(0), steady, true, "improved"},
		// No usable baseline: Classify's band, 10 % of before.
		{"NoBaselineBelowLowerEdge", 100, down(lo), ooda.Baseline{}, false, "improved"},
		{"NoBaselineAtLowerEdge", 100, lo, ooda.Baseline{}, false, "neutral"},
		{"NoBaselineAboveLowerEdge", 100, up(lo), ooda.Baseline{}, false, "neutral"},
		{"NoBaselineBelowUpperEdge", 100, down(hi), ooda.Baseline{}, false, "neutral"},
		{"NoBaselineAtUpperEdge", 100, hi, ooda.Baseline{}, false, "neutral"},
		{"NoBaselineAboveUpperEdge", 100, up(hi), ooda.Baseline{}, false, "regressed"},
		{"NoBaselineFifteenPercent", 100, 115, noisy, false, "regressed"},
		{"TooFewSamplesFallsBack", 100, 115, thin, true, "regressed"},
		{"FiveSamplesAreEnough", 100, 115, ooda.Baseline{Median: 100, MAD: 5, N: 5}, true, "neutral"},
		{"NoBaselineFromZero", 0, 1, ooda.Baseline{}, false, "regressed"},
	} {
		if got := ooda.ClassifyAgainst(c.before, c.after, c.b, c.ok); got != c.want {
			t.Errorf("%s: ClassifyAgainst(%v, %v, %+v, %v) = %s, want %s", c.name, c.before, c.after, c.b, c.ok, got, c.want)
		}
		if !c.ok || c.b.N < ooda.MinBaselineSamples {
			if got, want := ooda.ClassifyAgainst(c.before, c.after, c.b, c.ok), ooda.Classify(c.before, c.after); got != want {
				t.Errorf("%s: without a usable baseline %s, Classify says %s", c.name, got, want)
			}
		}
	}
}

// End to end in the package: history with a planted regression, baselines
// from it, and the classification of an action against them.
func TestBaselinesClassifyAHistory(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(5, 5))
	var hist []store.ReadingSample
	for i := range 60 {
		// Latency around 100 ms with ±3 ms noise, one wild sample.
		v := 100 + (rng.Float64()*6 - 3)
		if i == 17 {
			v = 5000
		}
		hist = append(hist, series("latency_ms", "search", v)...)
	}
	b, ok := ooda.Baselines(hist)[ooda.ReadingKey{Name: "latency_ms", Object: "search"}]
	if !ok || b.N != 60 || math.Abs(b.Median-100) > 1.5 || b.MAD > 3 || b.MAD < 0.5 {
		t.Fatalf("baseline %+v %v: want median ≈ 100 and MAD within the noise despite the wild sample", b, ok)
	}
	for _, c := range []struct {
		after float64
		want  string
	}{{104, "neutral"}, {96, "neutral"}, {125, "regressed"}, {80, "improved"}} {
		if got := ooda.ClassifyAgainst(100, c.after, b, ok); got != c.want {
			t.Errorf("100 → %g against %+v (band %g): %s, want %s", c.after, b, b.Band(100, ooda.Noise), got, c.want)
		}
	}
}
