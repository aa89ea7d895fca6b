package ooda_test

import (
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hartonomous/ooda/ooda"
	"github.com/hartonomous/ooda/store"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// TestEnvelopeGolden pins the wire format of every kind: other services and
// older binaries read these bytes.
func TestEnvelopeGolden(t *testing.T) {
	at := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	obs := store.Observation{Target: "embedded", TakenAt: at, Readings: []store.Reading{{Name: "page_count", Object: "main", Value: 42, Unit: "pages"}}}
	h := ooda.Hypothesis{ID: "wal_grown:main", Rule: "wal_grown", Object: "main", Evidence: "WAL is 70000000 bytes", Confidence: 0.95, Action: "wal_checkpoint", Tier: 1}
	payloads := map[ooda.Kind]any{
		ooda.KindTrigger:     ooda.Trigger{Source: "operator", Reason: "test", Key: "k1"},
		ooda.KindObservation: obs,
		ooda.KindOrientation: ooda.Orientation{Observation: obs, Hypotheses: []ooda.Hypothesis{h}},
		ooda.KindDecision:    ooda.Decisions{Decisions: []ooda.Decision{{Hypothesis: h, Verdict: ooda.VerdictExecute, Reason: "tier 1: automatic"}}},
	}
	for kind, p := range payloads {
		raw, _ := json.Marshal(p)
		body, err := ooda.Encode(ooda.Envelope{CycleID: "0b6c7d5e-1f2a-4b3c-8d4e-5f6a7b8c9d0e", Kind: kind, CreatedAt: at, Trace: "trace-1", Payload: raw})
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join("testdata", "envelope-"+string(kind)+".golden")
		if *update {
			if err := os.WriteFile(path, append(body, '\n'), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run go test ./ooda -run Golden -update)", err)
		}
		if got := string(body) + "\n"; got != string(want) {
			t.Errorf("%s envelope changed:\n got %s\nwant %s", kind, got, want)
		}
		if e, err := ooda.Decode(want, 1<<20); err != nil || e.Kind != kind || e.V != ooda.Version {
			t.Errorf("decoding the %s golden file: %+v %v", kind, e, err)
		}
	}
}

func TestDecodeIsStrict(t *testing.T) {
	t.Parallel()
	ok := `{"v":1,"cycle_id":"c","kind":"trigger","created_at":"2026-01-01T00:00:00Z","payload":{}}`
	if _, err := ooda.Decode([]byte(ok), 1024); err != nil {
		t.Fatalf("valid envelope: %v", err)
	}
	for name, c := range map[string]struct{ body, want string }{
		"Empty":        {"", "invalid envelope JSON"},
		"NotJSON":      {"<Error/>", "invalid envelope JSON"},
		"Trailing":     {ok + ok, "data after the envelope"},
		"Version":      {strings.Replace(ok, `"v":1`, `"v":2`, 1), "envelope version 2"},
		"NoVersion":    {strings.Replace(ok, `"v":1,`, ``, 1), "envelope version 0"},
		"Kind":         {strings.Replace(ok, `"trigger"`, `"launch"`, 1), `unknown kind "launch"`},
		"NoCycle":      {strings.Replace(ok, `"c"`, `""`, 1), "no cycle_id"},
		"PayloadArray": {strings.Replace(ok, `"payload":{}`, `"payload":[]`, 1), "payload must be a JSON object"},
		"NoPayload":    {strings.Replace(ok, `,"payload":{}`, ``, 1), "payload must be a JSON object"},
		"UnknownField": {strings.Replace(ok, `"v":1`, `"v":1,"x":1`, 1), `unknown field "x"`},
		"OverTheLimit": {ok + strings.Repeat(" ", 2000), "over the limit of 1024"},
		"WrongTypeOfV": {strings.Replace(ok, `"v":1`, `"v":"1"`, 1), "invalid envelope JSON"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := ooda.Decode([]byte(c.body), 1024)
			if !errors.Is(err, ooda.ErrPoison) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want ErrPoison naming %q", err, c.want)
			}
		})
	}
}
