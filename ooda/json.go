package ooda

import "encoding/json"

func jsonOf(v map[string]float64) json.RawMessage {
	if v == nil {
		return nil
	}
	b, _ := json.Marshal(v) // a map of numbers always marshals
	return b
}
