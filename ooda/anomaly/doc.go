// Package anomaly scores observations for outliers in pure Go: an isolation
// forest (Liu, Ting and Zhou, "Isolation Forest", ICDM 2008), the local
// outlier factor (Breunig, Kriegel, Ng and Sander, "LOF: Identifying
// Density-Based Local Outliers", SIGMOD 2000), robust baselines (median and
// median absolute deviation) and the Hartonomous inference-latency features
// (CATALOG: SQL Server sensors).
//
// Guarantees:
//   - Deterministic: a forest built from the same data, options and seed
//     gives the same scores, bit for bit; LOF has no randomness.
//   - Pure: no I/O, no global state, no goroutines; a *Forest is immutable
//     after NewForest and safe for concurrent Score calls.
//   - Inputs are checked: empty data, ragged rows, NaN or ±Inf values and
//     out-of-range parameters are errors that name the row, column, value
//     or parameter.
//   - Standard library only.
package anomaly
