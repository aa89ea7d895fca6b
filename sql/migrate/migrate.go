// Package migrate reads the numbered schema scripts embedded under sql/ and
// orders them. Each engine package (sql/sqlite, later sql/mssql) embeds its own
// files; the code that applies them lives with the engine, since each records
// versions in its own dialect.
//
// File names are NNNN_name.sql: a four-digit version, unique and contiguous
// from 0001, so that a missing or doubled file is an error at start-up rather
// than a silently skipped step.
package migrate

import (
	"fmt"
	"io/fs"
	"regexp"
	"sort"
	"strconv"
)

// Migration is one numbered script.
type Migration struct {
	Version int
	Name    string // file name
	SQL     string
}

var fileName = regexp.MustCompile(`^([0-9]{4})_[a-z0-9_]+\.sql$`)

// Load returns the scripts of fsys (its top directory), in version order. It
// refuses names that do not match NNNN_name.sql, duplicate versions and gaps.
func Load(fsys fs.FS) ([]Migration, error) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	var out []Migration
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		name := e.Name()
		m := fileName.FindStringSubmatch(name)
		if m == nil {
			if len(name) > 4 && name[len(name)-4:] == ".sql" {
				return nil, fmt.Errorf("migrate: script %q: name must be NNNN_lower_snake.sql", name)
			}
			continue
		}
		v, _ := strconv.Atoi(m[1])
		body, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, fmt.Errorf("migrate: %w", err)
		}
		out = append(out, Migration{Version: v, Name: name, SQL: string(body)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	for i, m := range out {
		if m.Version != i+1 {
			return nil, fmt.Errorf("migrate: script %q has version %d, want %d (versions start at 0001 and have no gaps or duplicates)", m.Name, m.Version, i+1)
		}
	}
	return out, nil
}
