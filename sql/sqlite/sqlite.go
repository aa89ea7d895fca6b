// Package sqlite embeds the schema scripts of the embedded (SQLite) engine.
// Each script runs once, inside the transaction that records its version.
package sqlite

import (
	"embed"

	"github.com/hartonomous/ooda/sql/migrate"
)

//go:embed *.sql
var files embed.FS

// Migrations returns the scripts in version order.
func Migrations() ([]migrate.Migration, error) { return migrate.Load(files) }
