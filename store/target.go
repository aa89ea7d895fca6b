package store

import (
	"context"
	"errors"
	"time"
)

// Reading is one typed measurement of a target.
type Reading struct {
	Name   string  `json:"name"`
	Object string  `json:"object"`
	Value  float64 `json:"value"`
	Unit   string  `json:"unit,omitempty"`
}

// Series is a table of raw samples that a rule scores itself (the
// inference latencies that the anomaly detectors read), beside the
// readings summarising it. Sensors cap its rows (1,000 for the inference
// latencies); it is plain numbers so that an observation stays
// JSON-friendly and what-if replay gives the rule the same input.
type Series struct {
	Name    string      `json:"name"`
	Object  string      `json:"object"`
	Columns []string    `json:"columns"`
	Rows    [][]float64 `json:"rows"`
}

// Observation is what the sensors of a target saw.
type Observation struct {
	Target   string    `json:"target"`
	TakenAt  time.Time `json:"taken_at"`
	Readings []Reading `json:"readings"`
	Series   []Series  `json:"series,omitempty"`
}

// Outcome is what an actuator did.
type Outcome struct {
	Detail string             `json:"detail"`
	Before map[string]float64 `json:"before,omitempty"`
	After  map[string]float64 `json:"after,omitempty"`
}

// Target is what the loop observes and changes; one implementation per engine.
type Target interface {
	Name() string
	// Observe reads the sensors within ctx's deadline.
	Observe(ctx context.Context) (Observation, error)
	// Execute carries out an action on an object. It is idempotent: an
	// action whose effect is already present records instead of redoing.
	Execute(ctx context.Context, action, object string) (Outcome, error)
	// Describe says in words what Execute would do (for dry-run).
	Describe(action, object string) string
}

// Undoer is implemented by targets whose actions can be reverted. Undo
// reverts a regressed action; a target without it records the regression.
// An action type that has no undo returns ErrNoUndo.
type Undoer interface {
	Undo(ctx context.Context, action, object string) (Outcome, error)
}

// ErrNoUndo says that an action type has no undo: its regression is
// recorded, not reverted.
var ErrNoUndo = errors.New("this action type has no undo")
