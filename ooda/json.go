package ooda

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
)

// errTrailing: a JSON document with more after its value.
var errTrailing = errors.New("data after the JSON value")

// strictJSON decodes exactly one JSON value into v: unknown fields are
// errors, and so is anything after the value (errTrailing).
func strictJSON(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errTrailing
	}
	return nil
}

func jsonOf(v map[string]float64) json.RawMessage {
	if v == nil {
		return nil
	}
	b, _ := json.Marshal(v) // a map of numbers always marshals
	return b
}
