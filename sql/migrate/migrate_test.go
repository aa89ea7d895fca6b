package migrate_test

import (
	"strings"
	"testing"
	"testing/fstest"

	"github.com/hartonomous/ooda/sql/migrate"
)

func TestLoad(t *testing.T) {
	t.Parallel()
	good := fstest.MapFS{
		"0002_b.sql": {Data: []byte("b")},
		"0001_a.sql": {Data: []byte("a")},
		"README.md":  {Data: []byte("x")},
	}
	ms, err := migrate.Load(good)
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 2 || ms[0].Name != "0001_a.sql" || ms[1].Version != 2 || ms[1].SQL != "b" {
		t.Fatalf("got %+v", ms)
	}
	for name, fsys := range map[string]fstest.MapFS{
		"gap":       {"0001_a.sql": {}, "0003_c.sql": {}},
		"duplicate": {"0001_a.sql": {}, "0001_b.sql": {}},
		"badname":   {"1_a.sql": {}},
		"nozero":    {"0002_a.sql": {}},
	} {
		if _, err := migrate.Load(fsys); err == nil || !strings.Contains(err.Error(), "migrate: script") {
			t.Errorf("%s: err = %v, want a script naming error", name, err)
		}
	}
}
