package anomaly

import (
	"fmt"
	"math"
	"sort"
)

// DefaultLOFThreshold: a local outlier factor above this is anomalous
// (CATALOG). LOF ≈ 1 means as dense as the neighbours.
const DefaultLOFThreshold = 1.5

// DefaultK is the default neighbourhood size of LOF (CATALOG: k = 5).
const DefaultK = 5

// MinReachDistance is the floor of the mean reachability distance in the
// local reachability density. A point inside a pile of at least k
// identical points has mean reachability distance 0 and, by the paper's
// definition, an infinite lrd; the floor makes it 1/MinReachDistance =
// 10¹⁰ instead, so that no score is Inf or NaN. Consequences: such a point
// whose neighbours are the same pile has LOF 1 (as dense as they are); a
// distinct point whose neighbours are such a pile gets a very large but
// finite LOF — it is an outlier relative to that pile, which is what LOF
// means. scikit-learn adds 1e-10 instead; a floor leaves every other
// point's value exactly as the paper defines it.
const MinReachDistance = 1e-10

// LOF is the local outlier factor of every row of data with neighbourhood
// size k (Breunig et al. 2000, definitions 3–7), with Euclidean distance:
//
//   - k-distance(p): the distance to p's k-th nearest other point;
//   - N_k(p): every other point within k-distance(p), so ties at the k-th
//     distance are all included and |N_k(p)| can exceed k; duplicates of p
//     are other points at distance 0;
//   - reach-dist_k(p, o) = max(k-distance(o), d(p, o));
//   - lrd(p) = 1 / max(mean over o ∈ N_k(p) of reach-dist_k(p, o), MinReachDistance);
//   - LOF(p) = mean over o ∈ N_k(p) of lrd(o) / lrd(p).
//
// It needs k ≥ 1 and more than k rows (each point needs k others). The
// cost is O(n² · dim) time and O(n²) memory: it is meant for windows of at
// most a few thousand samples.
func LOF(data [][]float64, k int) ([]float64, error) {
	if _, err := checkData(data); err != nil {
		return nil, err
	}
	n := len(data)
	switch {
	case k < 1:
		return nil, fmt.Errorf("anomaly: LOF k %d: want ≥ 1", k)
	case k >= n:
		return nil, fmt.Errorf("anomaly: LOF k %d with %d rows: want k < rows (each point needs k other points)", k, n)
	}
	dist := make([][]float64, n)
	for i := range dist {
		dist[i] = make([]float64, n)
	}
	for i := range n {
		for j := i + 1; j < n; j++ {
			d := euclid(data[i], data[j])
			dist[i][j], dist[j][i] = d, d
		}
	}
	kdist := make([]float64, n)
	neigh := make([][]int, n)
	buf := make([]float64, 0, n-1)
	for i := range n {
		buf = buf[:0]
		for j := range n {
			if j != i {
				buf = append(buf, dist[i][j])
			}
		}
		sort.Float64s(buf)
		kdist[i] = buf[k-1]
		for j := range n {
			if j != i && dist[i][j] <= kdist[i] {
				neigh[i] = append(neigh[i], j)
			}
		}
	}
	lrd := make([]float64, n)
	for i := range n {
		sum := 0.0
		for _, o := range neigh[i] {
			sum += max(kdist[o], dist[i][o])
		}
		lrd[i] = 1 / max(sum/float64(len(neigh[i])), MinReachDistance)
	}
	out := make([]float64, n)
	for i := range n {
		sum := 0.0
		for _, o := range neigh[i] {
			sum += lrd[o]
		}
		out[i] = sum / float64(len(neigh[i])) / lrd[i]
	}
	return out, nil
}

func euclid(a, b []float64) float64 {
	s := 0.0
	for i := range a {
		d := a[i] - b[i]
		s += d * d
	}
	return math.Sqrt(s)
}
