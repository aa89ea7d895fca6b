package anomaly

import (
	"errors"
	"fmt"
	"math"
	"math/rand"
)

// EulerGamma is the Euler–Mascheroni constant of the harmonic-number
// approximation H(i) ≈ ln(i) + γ used by the isolation forest paper.
const EulerGamma = 0.5772156649

// DefaultForestThreshold: an isolation-forest score above this is anomalous
// (CATALOG). Scores near 1 are anomalies, well below 0.5 are normal, and
// all near 0.5 means the sample has no distinct anomaly (Liu et al. 2008,
// section 2).
const DefaultForestThreshold = 0.7

// Defaults of ForestOptions (Liu et al. 2008, section 4: 100 trees and a
// sub-sample of 256 are enough for most data).
const (
	DefaultTrees      = 100
	DefaultSampleSize = 256
)

// ErrNoData is returned for empty data.
var ErrNoData = errors.New("anomaly: no data")

// ForestOptions configures NewForest. Zero values take the defaults.
type ForestOptions struct {
	// Trees is the number of isolation trees. Default 100.
	Trees int
	// SampleSize ψ is the sub-sample each tree is built from, without
	// replacement. Default 256, capped at len(data).
	SampleSize int
	// Seed seeds the random choices (sub-samples, attributes, split
	// values). The same seed gives the same forest.
	Seed int64
}

// Forest is a trained isolation forest. It is immutable and safe for
// concurrent use.
type Forest struct {
	trees []*node
	psi   int // the sub-sample size the trees were built from
	dim   int
	cpsi  float64
}

// node is an internal node (left != nil) or an external node holding the
// number of training points that reached it.
type node struct {
	attr        int
	split       float64
	left, right *node
	size        int
}

// C is c(n), the average path length of an unsuccessful search in a binary
// search tree of n points (Liu et al. 2008, equation 1):
// c(n) = 2H(n−1) − 2(n−1)/n with H(i) ≈ ln(i) + γ for n > 2, c(2) = 1, and
// c(n) = 0 for n ≤ 1. It normalises path lengths and estimates the depth
// left below an external node that still holds n points.
func C(n int) float64 {
	switch {
	case n <= 1:
		return 0
	case n == 2:
		return 1
	}
	f := float64(n)
	return 2*(math.Log(f-1)+EulerGamma) - 2*(f-1)/f
}

// NewForest builds an isolation forest on data (rows of equal length).
// Each tree grows on its own sub-sample to the height limit ⌈log2 ψ⌉; a
// node splits on an attribute chosen at random among those that still vary
// in the node, at a value drawn uniformly between their minimum and
// maximum. (The paper draws any attribute; skipping constant ones wastes no
// depth on splits that cannot separate anything, as scikit-learn does.)
func NewForest(data [][]float64, opt ForestOptions) (*Forest, error) {
	dim, err := checkData(data)
	if err != nil {
		return nil, err
	}
	switch {
	case opt.Trees < 0:
		return nil, fmt.Errorf("anomaly: ForestOptions.Trees %d: want ≥ 1 (0 takes %d)", opt.Trees, DefaultTrees)
	case opt.SampleSize < 0:
		return nil, fmt.Errorf("anomaly: ForestOptions.SampleSize %d: want ≥ 1 (0 takes %d)", opt.SampleSize, DefaultSampleSize)
	}
	if opt.Trees == 0 {
		opt.Trees = DefaultTrees
	}
	if opt.SampleSize == 0 {
		opt.SampleSize = DefaultSampleSize
	}
	psi := min(opt.SampleSize, len(data))
	limit := int(math.Ceil(math.Log2(float64(psi))))
	rng := rand.New(rand.NewSource(opt.Seed))
	f := &Forest{trees: make([]*node, opt.Trees), psi: psi, dim: dim, cpsi: C(psi)}
	idx := make([]int, len(data))
	for i := range idx {
		idx[i] = i
	}
	for t := range f.trees {
		// Partial Fisher–Yates: the first psi entries are a uniform sample
		// without replacement.
		for i := range psi {
			j := i + rng.Intn(len(idx)-i)
			idx[i], idx[j] = idx[j], idx[i]
		}
		sample := make([][]float64, psi)
		for i := range sample {
			sample[i] = data[idx[i]]
		}
		f.trees[t] = grow(sample, 0, limit, dim, rng)
	}
	return f, nil
}

func grow(x [][]float64, depth, limit, dim int, rng *rand.Rand) *node {
	if depth >= limit || len(x) <= 1 {
		return &node{size: len(x)}
	}
	// Attributes that vary in this node, with their ranges.
	var attrs []int
	var lo, hi []float64
	for a := range dim {
		mn, mx := x[0][a], x[0][a]
		for _, p := range x[1:] {
			mn, mx = min(mn, p[a]), max(mx, p[a])
		}
		if mx > mn {
			attrs = append(attrs, a)
			lo, hi = append(lo, mn), append(hi, mx)
		}
	}
	if len(attrs) == 0 { // all points identical: nothing can isolate them
		return &node{size: len(x)}
	}
	k := rng.Intn(len(attrs))
	a := attrs[k]
	split := lo[k] + rng.Float64()*(hi[k]-lo[k])
	var left, right [][]float64
	for _, p := range x {
		if p[a] < split {
			left = append(left, p)
		} else {
			right = append(right, p)
		}
	}
	return &node{attr: a, split: split,
		left:  grow(left, depth+1, limit, dim, rng),
		right: grow(right, depth+1, limit, dim, rng)}
}

// pathLength is h(x) in one tree: the edges from the root to the external
// node x falls in, plus c(size) for the points that node did not separate
// (Liu et al. 2008, algorithm 3).
func (n *node) pathLength(x []float64) float64 {
	e := 0.0
	for n.left != nil {
		if x[n.attr] < n.split {
			n = n.left
		} else {
			n = n.right
		}
		e++
	}
	return e + C(n.size)
}

// Score is the anomaly score s(x, ψ) = 2^(−E[h(x)] / c(ψ)) (Liu et al.
// 2008, equation 2), in (0, 1]. x must have the training data's
// dimension; a shorter or longer x, or one holding NaN, scores NaN.
func (f *Forest) Score(x []float64) float64 {
	if len(x) != f.dim || hasNaN(x) {
		return math.NaN()
	}
	if f.cpsi == 0 { // ψ = 1: every point is as isolated as every other
		return 1
	}
	sum := 0.0
	for _, t := range f.trees {
		sum += t.pathLength(x)
	}
	return math.Pow(2, -(sum/float64(len(f.trees)))/f.cpsi)
}

// Scores scores every row of data.
func (f *Forest) Scores(data [][]float64) []float64 {
	out := make([]float64, len(data))
	for i, x := range data {
		out[i] = f.Score(x)
	}
	return out
}

// SampleSize is ψ, the sub-sample size the trees were built from.
func (f *Forest) SampleSize() int { return f.psi }

func hasNaN(x []float64) bool {
	for _, v := range x {
		if math.IsNaN(v) {
			return true
		}
	}
	return false
}

// checkData checks that data is non-empty, rectangular, at least one
// column wide and finite; it returns the dimension.
func checkData(data [][]float64) (int, error) {
	if len(data) == 0 {
		return 0, ErrNoData
	}
	dim := len(data[0])
	if dim == 0 {
		return 0, fmt.Errorf("anomaly: row 0 has no columns")
	}
	for i, r := range data {
		if len(r) != dim {
			return 0, fmt.Errorf("anomaly: row %d has %d columns, row 0 has %d", i, len(r), dim)
		}
		for j, v := range r {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return 0, fmt.Errorf("anomaly: row %d column %d is %v: want a finite number", i, j, v)
			}
		}
	}
	return dim, nil
}
