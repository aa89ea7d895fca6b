package store

import (
	"context"
	"time"
)

// Reading is one typed measurement of a target.
type Reading struct {
	Name   string  `json:"name"`
	Object string  `json:"object"`
	Value  float64 `json:"value"`
	Unit   string  `json:"unit,omitempty"`
}

// Observation is what the sensors of a target saw.
type Observation struct {
	Target   string    `json:"target"`
	TakenAt  time.Time `json:"taken_at"`
	Readings []Reading `json:"readings"`
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
type Undoer interface {
	Undo(ctx context.Context, action, object string) (Outcome, error)
}
