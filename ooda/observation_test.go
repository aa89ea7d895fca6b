package ooda_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hartonomous/ooda/ooda"
	"github.com/hartonomous/ooda/store"
)

// schemaNode is the part of JSON Schema that observation.schema.json uses.
type schemaNode struct {
	Type                 any                    `json:"type"`
	Required             []string               `json:"required"`
	Properties           map[string]*schemaNode `json:"properties"`
	Items                *schemaNode            `json:"items"`
	Ref                  string                 `json:"$ref"`
	AdditionalProperties *bool                  `json:"additionalProperties"`
	Defs                 map[string]*schemaNode `json:"$defs"`
}

// TestObservationSchemaMatchesTheGoTypes: the schema DBAs write scenarios
// against says exactly what DecodeObservation accepts — every field of
// store.Observation, Reading and Series with its JSON type, the same
// required fields, and no others.
func TestObservationSchemaMatchesTheGoTypes(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("observation.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	var root schemaNode
	if err := json.Unmarshal(raw, &root); err != nil {
		t.Fatalf("the schema is not JSON: %v", err)
	}
	resolve := func(n *schemaNode) *schemaNode {
		if n.Ref != "" {
			return root.Defs[strings.TrimPrefix(n.Ref, "#/$defs/")]
		}
		return n
	}
	var check func(path string, n *schemaNode, typ reflect.Type)
	check = func(path string, n *schemaNode, typ reflect.Type) {
		n = resolve(n)
		if n == nil {
			t.Fatalf("%s: unresolved $ref", path)
		}
		types := jsonTypes(n.Type)
		switch typ.Kind() {
		case reflect.String:
			want(t, path, types, "string")
		case reflect.Float64:
			want(t, path, types, "number")
		case reflect.Slice:
			want(t, path, types, "array")
			if n.Items == nil {
				t.Fatalf("%s: array without items", path)
			}
			check(path+"[]", n.Items, typ.Elem())
		case reflect.Struct:
			if typ == reflect.TypeOf(time.Time{}) {
				want(t, path, types, "string")
				return
			}
			want(t, path, types, "object")
			if n.AdditionalProperties == nil || *n.AdditionalProperties {
				t.Errorf("%s: additionalProperties must be false (the decoder refuses unknown fields)", path)
			}
			var fields, required []string
			for i := range typ.NumField() {
				f := typ.Field(i)
				name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
				fields = append(fields, name)
				if !strings.Contains(opts, "omitempty") {
					required = append(required, name)
				}
				p, ok := n.Properties[name]
				if !ok {
					t.Errorf("%s: field %q of %s is not in the schema", path, name, typ)
					continue
				}
				check(path+"."+name, p, f.Type)
			}
			for name := range n.Properties {
				if !slices.Contains(fields, name) {
					t.Errorf("%s: the schema has %q, which %s does not", path, name, typ)
				}
			}
			// The unit of a reading is optional (omitempty); everything
			// else the Go type always writes is required.
			slices.Sort(required)
			got := slices.Clone(n.Required)
			slices.Sort(got)
			if !slices.Equal(got, required) {
				t.Errorf("%s: required %v, the Go type always writes %v", path, got, required)
			}
		default:
			t.Fatalf("%s: unexpected kind %s", path, typ.Kind())
		}
	}
	check("observation", &root, reflect.TypeOf(store.Observation{}))
}

func jsonTypes(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case []any:
		var out []string
		for _, s := range v {
			out = append(out, s.(string))
		}
		return out
	}
	return nil
}

func want(t *testing.T, path string, got []string, typ string) {
	t.Helper()
	if !slices.Contains(got, typ) {
		t.Errorf("%s: schema type %v, want %s", path, got, typ)
	}
}

// TestObservationExamplesDecode: the example scenarios in testdata are
// valid observations, and Orient finds in each what its target's rules say.
func TestObservationExamplesDecode(t *testing.T) {
	t.Parallel()
	for file, wantActions := range map[string][]string{
		"embedded-free-pages.json":       {"vacuum"},
		"sqlserver-index-and-stats.json": {ooda.SQLRebuildIndex, ooda.SQLReorganizeIndex, ooda.SQLUpdateStatistics},
	} {
		raw, err := os.ReadFile(filepath.Join("testdata", "observations", file))
		if err != nil {
			t.Fatal(err)
		}
		o, err := ooda.DecodeObservation(raw)
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		var got []string
		for _, h := range ooda.Orient(o, ooda.DefaultThresholds()) {
			got = append(got, h.Action)
		}
		slices.Sort(got)
		slices.Sort(wantActions)
		if !slices.Equal(got, wantActions) {
			t.Errorf("%s: Orient proposes %v, want %v", file, got, wantActions)
		}
	}
}

func TestDecodeObservationRefusesBadInput(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ name, in, want string }{
		{"NotJSON", `{"target":`, "observation"},
		{"UnknownField", `{"target":"embedded","taken_at":"2026-12-04T12:00:00Z","readings":[],"extra":1}`, `unknown field "extra"`},
		{"NoTarget", `{"taken_at":"2026-12-04T12:00:00Z","readings":[]}`, "target is required"},
		{"NoTime", `{"target":"embedded","readings":[]}`, "taken_at is required"},
		{"UnnamedReading", `{"target":"embedded","taken_at":"2026-12-04T12:00:00Z","readings":[{"name":"","object":"main","value":1}]}`, "readings[0]: name is required"},
		{"ValueNotNumber", `{"target":"embedded","taken_at":"2026-12-04T12:00:00Z","readings":[{"name":"x","object":"main","value":"1"}]}`, "value"},
	} {
		_, err := ooda.DecodeObservation([]byte(c.in))
		if !errors.Is(err, ooda.ErrInvalidRequest) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an invalid request naming %q", c.name, err, c.want)
		}
	}
}
