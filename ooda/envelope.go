package ooda

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Version is the envelope version this binary writes and reads.
const Version = 1

// Kind names what an envelope carries.
type Kind string

// The kinds of the loop, in stage order.
const (
	KindTrigger     Kind = "trigger"
	KindObservation Kind = "observation"
	KindOrientation Kind = "orientation"
	KindDecision    Kind = "decision"
	KindAction      Kind = "action"
)

// MessageType is the Service Broker message type that carries a kind.
func (k Kind) MessageType() string {
	return map[Kind]string{
		KindTrigger:     "//Hartonomous/OODA/TriggerMessage",
		KindObservation: "//Hartonomous/OODA/ObservationMessage",
		KindOrientation: "//Hartonomous/OODA/OrientationMessage",
		KindDecision:    "//Hartonomous/OODA/DecisionMessage",
		KindAction:      "//Hartonomous/OODA/ActionMessage",
	}[k]
}

func (k Kind) valid() bool { return k.MessageType() != "" }

// kindOf returns the kind a Service Broker message type carries.
func kindOf(messageType string) (Kind, bool) {
	for _, k := range []Kind{KindTrigger, KindObservation, KindOrientation, KindDecision, KindAction} {
		if k.MessageType() == messageType {
			return k, true
		}
	}
	return "", false
}

// Envelope is the body of every loop message: UTF-8 JSON, versioned.
type Envelope struct {
	V         int             `json:"v"`
	CycleID   string          `json:"cycle_id"`
	Kind      Kind            `json:"kind"`
	CreatedAt time.Time       `json:"created_at"`
	Trace     string          `json:"trace,omitempty"`
	Payload   json.RawMessage `json:"payload"`
}

// ErrPoison marks a message that can never be processed: it goes to the dead
// letters with the reason, never crashes the loop, and is never skipped silently.
var ErrPoison = errors.New("poison message")

// Encode marshals e.
func Encode(e Envelope) ([]byte, error) {
	e.V = Version
	return json.Marshal(e)
}

// Decode reads an envelope strictly: unknown fields, trailing data, an
// unknown version or kind, a missing cycle id or payload, or a body over
// maxBytes are all ErrPoison with the reason.
func Decode(body []byte, maxBytes int) (Envelope, error) {
	var e Envelope
	if len(body) > maxBytes {
		return e, fmt.Errorf("%w: body of %d bytes is over the limit of %d", ErrPoison, len(body), maxBytes)
	}
	if err := strictJSON(body, &e); errors.Is(err, errTrailing) {
		return e, fmt.Errorf("%w: data after the envelope", ErrPoison)
	} else if err != nil {
		return e, fmt.Errorf("%w: invalid envelope JSON: %v", ErrPoison, err)
	}
	switch {
	case e.V != Version:
		return e, fmt.Errorf("%w: envelope version %d, this binary reads version %d", ErrPoison, e.V, Version)
	case !e.Kind.valid():
		return e, fmt.Errorf("%w: unknown kind %q", ErrPoison, e.Kind)
	case e.CycleID == "":
		return e, fmt.Errorf("%w: no cycle_id", ErrPoison)
	case len(e.Payload) == 0 || e.Payload[0] != '{':
		return e, fmt.Errorf("%w: payload must be a JSON object", ErrPoison)
	}
	return e, nil
}

// decodePayload reads an envelope's payload strictly into v.
func decodePayload(e Envelope, v any) error {
	if err := strictJSON(e.Payload, v); err != nil {
		return fmt.Errorf("%w: %s payload: %v", ErrPoison, e.Kind, err)
	}
	return nil
}
