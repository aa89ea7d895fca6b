package mssqltarget

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/hartonomous/ooda/broker/servicebroker"
	"github.com/hartonomous/ooda/store"
)

// Reading and series names of the Hartonomous workload sensors (CATALOG:
// SQL Server sensors, "Hartonomous workload"). The rules in ooda key off
// them.
const (
	ReadingInferenceP50       = "inference_latency_p50_ms"      // the inference table ("dbo.InferenceRequests"), ms
	ReadingInferenceP95       = "inference_latency_p95_ms"      // same object, ms
	ReadingInferenceMean      = "inference_latency_mean_ms"     // same object, ms
	ReadingInferenceRequests  = "inference_requests"            // same object: requests in the window (at most MaxInferenceRows)
	SeriesInferenceLatency    = "inference_latency"             // same object: duration_ms, tokens, unix_seconds, newest first
	ReadingProjectionCoverage = "embedding_projection_coverage" // "dbo.AtomEmbeddings": COUNT(SpatialGeometry) ÷ COUNT(*), 0–1
	ReadingEmbeddingRows      = "embedding_rows"                // "dbo.AtomEmbeddings": COUNT(*)
	ReadingSpatialIndex       = "spatial_index_present"         // "dbo.AtomEmbeddings.SpatialGeometry": 0/1
)

// MaxInferenceRows caps the inference latency series (CATALOG: ≤ 1,000
// rows, newest first).
const MaxInferenceRows = 1000

// The Hartonomous schema is not fixed: dbo.InferenceRequests has had
// several shapes across its repositories (AHartTN/Hartonomous,
// Hartonomous-Sandbox: sql/tables/dbo.InferenceRequests.sql,
// dbo.InferenceTracking.sql, docs), and the issue names it
// dbo.InferenceRequest. The sensor reads sys.columns and picks, in order,
// the first candidate present (names compared case-insensitively; the
// catalog's spelling is used, bracket-quoted). Only these constants ever
// reach the query text.
var (
	inferenceTables = []string{"InferenceRequests", "InferenceRequest"}
	// When the request started: RequestTimestamp (sp_Analyze, the EF
	// table), request_timestamp (snake-case script), RequestedAt,
	// Timestamp (InferenceTracking), CreatedUtc, CreatedAt.
	inferenceTimeColumns = []string{"RequestTimestamp", "request_timestamp", "RequestedAt", "Timestamp", "CreatedUtc", "CreatedAt"}
	// How long it took, in ms: TotalDurationMs (sp_Analyze), DurationMs,
	// total_duration_ms, duration_ms.
	inferenceDurationColumns = []string{"TotalDurationMs", "DurationMs", "total_duration_ms", "duration_ms"}
	// Tokens, when recorded: TokensProcessed (InferenceTracking),
	// TokenCount, TotalTokens, TokensUsed, token_count, total_tokens.
	inferenceTokenColumns = []string{"TokensProcessed", "TokenCount", "TotalTokens", "TokensUsed", "token_count", "total_tokens"}
	// Otherwise tokens are estimated as sp_Analyze does: (LEN(input) +
	// LEN(output)) / 4, about four characters a token.
	inferenceTextColumns = [][2]string{{"InputData", "OutputData"}, {"input_data", "output_data"}, {"PromptText", "GeneratedText"}}
)

var (
	timeTypes    = []string{"datetime2", "datetime", "datetimeoffset", "smalldatetime"}
	numericTypes = []string{"int", "bigint", "smallint", "tinyint", "float", "real", "decimal", "numeric"}
	textTypes    = []string{"nvarchar", "varchar", "nchar", "char", "json"}
)

// qWorkloadColumns lists the columns of the candidate tables, so that a
// missing table or column makes its sensor silently absent.
const qWorkloadColumns = shortLockTimeout + `SELECT o.name, c.name, t.name
FROM sys.objects AS o
JOIN sys.columns AS c ON c.object_id = o.object_id
JOIN sys.types AS t ON t.user_type_id = c.user_type_id
WHERE o.type = 'U' AND o.schema_id = SCHEMA_ID(N'dbo')
  AND o.name IN (N'InferenceRequests', N'InferenceRequest', N'AtomEmbeddings');`

// qProjection: the deployment guide's own coverage query ("Monitoring",
// COUNT(SpatialGeometry) vs rows) and whether a spatial index covers
// SpatialGeometry (sys.spatial_indexes).
const qProjection = shortLockTimeout + `SELECT COUNT_BIG(*), COUNT_BIG(SpatialGeometry),
  CASE WHEN EXISTS (
    SELECT 1 FROM sys.spatial_indexes AS si
    JOIN sys.index_columns AS ic ON ic.object_id = si.object_id AND ic.index_id = si.index_id
    JOIN sys.columns AS c ON c.object_id = ic.object_id AND c.column_id = ic.column_id
    WHERE si.object_id = OBJECT_ID(N'dbo.AtomEmbeddings') AND c.name = N'SpatialGeometry') THEN 1 ELSE 0 END
FROM dbo.AtomEmbeddings;`

// column is one row of qWorkloadColumns.
type column struct{ table, name, typ string }

// inferencePlan is what the sensor found of the inference table.
type inferencePlan struct {
	table, at, duration string
	atOffset            bool      // at is a datetimeoffset: converted to UTC
	tokens              string    // a token column, or ""
	text                [2]string // or the text columns tokens are estimated from, or ""
}

// pick is the catalog's spelling of the first candidate that table has with
// a type in types, or "".
func pick(cols []column, table string, candidates, types []string) string {
	for _, want := range candidates {
		for _, c := range cols {
			if strings.EqualFold(c.table, table) && strings.EqualFold(c.name, want) && slices.Contains(types, strings.ToLower(c.typ)) {
				return c.name
			}
		}
	}
	return ""
}

// planInference chooses the inference table and its columns; false when
// there is none with a time and a duration column.
func planInference(cols []column) (inferencePlan, bool) {
	for _, tbl := range inferenceTables {
		p := inferencePlan{table: tbl,
			at:       pick(cols, tbl, inferenceTimeColumns, timeTypes),
			duration: pick(cols, tbl, inferenceDurationColumns, numericTypes),
			tokens:   pick(cols, tbl, inferenceTokenColumns, numericTypes)}
		if p.at == "" || p.duration == "" {
			continue
		}
		p.atOffset = pick(cols, tbl, []string{p.at}, []string{"datetimeoffset"}) != ""
		if p.tokens == "" {
			for _, pair := range inferenceTextColumns {
				in, out := pick(cols, tbl, pair[:1], textTypes), pick(cols, tbl, pair[1:], textTypes)
				if in != "" && out != "" {
					p.text = [2]string{in, out}
					break
				}
			}
		}
		return p, true
	}
	return inferencePlan{}, false
}

// inferenceQuery is the statement of a plan: constant text around
// bracket-quoted catalog names that matched the candidates above; the
// window and the row cap are parameters. datetime2 and datetime values are
// taken as UTC (SYSUTCDATETIME() defaults in every known shape); a
// datetimeoffset is switched to UTC.
func inferenceQuery(p inferencePlan) (string, error) {
	if p.table == "" || p.at == "" || p.duration == "" {
		return "", fmt.Errorf("mssqltarget: inference plan %+v lacks a table, time or duration column", p)
	}
	var qerr error
	q := func(n string) string {
		s, err := servicebroker.QuoteName(n)
		if err != nil && qerr == nil {
			qerr = err // unreachable in practice: n matched a constant candidate
		}
		return s
	}
	tokens := "CAST(0 AS float)"
	switch {
	case p.tokens != "":
		tokens = "CAST(" + q(p.tokens) + " AS float)"
	case p.text[0] != "":
		tokens = "(LEN(ISNULL(CAST(" + q(p.text[0]) + " AS nvarchar(max)), N'')) + LEN(ISNULL(CAST(" + q(p.text[1]) + " AS nvarchar(max)), N''))) / 4.0"
	}
	at, dur := q(p.at), q(p.duration)
	utc := at
	if p.atOffset {
		utc = "SWITCHOFFSET(" + at + ", '+00:00')"
	}
	text := shortLockTimeout + "SELECT TOP (@max) CAST(" + dur + " AS float), " + tokens + ",\n" +
		"  DATEDIFF_BIG(millisecond, CAST('1970-01-01' AS datetime2), CAST(" + utc + " AS datetime2)) / 1000.0\n" +
		"FROM [dbo]." + q(p.table) + "\n" +
		"WHERE " + at + " >= DATEADD(hour, -@hours, SYSUTCDATETIME()) AND " + dur + " IS NOT NULL\n" +
		"ORDER BY " + at + " DESC;"
	return text, qerr
}

// latencyReadings summarises durations (ms): p50, p95 (linear
// interpolation between closest ranks), mean and count; none for no rows.
func latencyReadings(object string, durations []float64) []store.Reading {
	if len(durations) == 0 {
		return []store.Reading{{Name: ReadingInferenceRequests, Object: object, Value: 0}}
	}
	s := slices.Clone(durations)
	slices.Sort(s)
	quantile := func(p float64) float64 {
		h := p * float64(len(s)-1)
		lo := math.Floor(h)
		if int(lo)+1 >= len(s) {
			return s[len(s)-1]
		}
		return s[int(lo)] + (h-lo)*(s[int(lo)+1]-s[int(lo)])
	}
	mean := 0.0
	for _, d := range s {
		mean += d
	}
	mean /= float64(len(s))
	return []store.Reading{
		{Name: ReadingInferenceP50, Object: object, Value: quantile(0.50), Unit: "ms"},
		{Name: ReadingInferenceP95, Object: object, Value: quantile(0.95), Unit: "ms"},
		{Name: ReadingInferenceMean, Object: object, Value: mean, Unit: "ms"},
		{Name: ReadingInferenceRequests, Object: object, Value: float64(len(s))},
	}
}

// senseWorkload reads the Hartonomous workload (CATALOG): inference
// latency over Options.WorkloadWindow from the inference table, embedding
// projection coverage and spatial index presence on dbo.AtomEmbeddings.
// A missing table or column makes its part silently absent.
func (t *Target) senseWorkload(ctx context.Context) ([]store.Reading, []store.Series, error) {
	var cols []column
	err := t.query(ctx, qWorkloadColumns, func(r *sql.Rows) error {
		var c column
		if err := r.Scan(&c.table, &c.name, &c.typ); err != nil {
			return err
		}
		cols = append(cols, c)
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	var out []store.Reading
	var series []store.Series
	if p, ok := planInference(cols); ok {
		rs, s, err := t.senseInference(ctx, p)
		if err != nil {
			return out, series, fmt.Errorf("inference latency: %w", err)
		}
		out, series = append(out, rs...), append(series, s)
	}
	if pick(cols, "AtomEmbeddings", []string{"SpatialGeometry"}, []string{"geometry"}) != "" {
		rs, err := t.senseProjection(ctx)
		if err != nil {
			return out, series, fmt.Errorf("projection coverage: %w", err)
		}
		out = append(out, rs...)
	}
	return out, series, nil
}

func (t *Target) senseInference(ctx context.Context, p inferencePlan) ([]store.Reading, store.Series, error) {
	obj := Object{Schema: "dbo", Table: p.table}.String()
	s := store.Series{Name: SeriesInferenceLatency, Object: obj, Columns: []string{"duration_ms", "tokens", "unix_seconds"}}
	q, err := inferenceQuery(p)
	if err != nil {
		return nil, s, err
	}
	var durs []float64
	err = t.query(ctx, q, func(r *sql.Rows) error {
		var d, tok, at sql.NullFloat64
		if err := r.Scan(&d, &tok, &at); err != nil {
			return err
		}
		s.Rows = append(s.Rows, []float64{d.Float64, tok.Float64, at.Float64})
		durs = append(durs, d.Float64)
		return nil
	}, sql.Named("max", int32(MaxInferenceRows)), sql.Named("hours", int32(max(1, t.opt.WorkloadWindow.Hours()))))
	if err != nil {
		return nil, s, err
	}
	return latencyReadings(obj, durs), s, nil
}

func (t *Target) senseProjection(ctx context.Context) ([]store.Reading, error) {
	const tbl = "dbo.AtomEmbeddings"
	geo := Object{Schema: "dbo", Table: "AtomEmbeddings", Part: "SpatialGeometry"}.String()
	var out []store.Reading
	err := t.query(ctx, qProjection, func(r *sql.Rows) error {
		var rows, projected, idx int64
		if err := r.Scan(&rows, &projected, &idx); err != nil {
			return err
		}
		out = append(out, store.Reading{Name: ReadingEmbeddingRows, Object: tbl, Value: float64(rows), Unit: "rows"})
		if rows > 0 {
			out = append(out, store.Reading{Name: ReadingProjectionCoverage, Object: tbl, Value: float64(projected) / float64(rows)})
		}
		out = append(out, store.Reading{Name: ReadingSpatialIndex, Object: geo, Value: float64(idx)})
		return nil
	})
	return out, err
}
