// Package mssqlschema installs the SQL Server objects of the loop: the
// numbered scripts of this directory (embedded), applied in order, each in
// one transaction together with its row in ooda.SchemaVersion.
//
// The directory is sql/mssql; the package is named mssqlschema so that an
// importer can use it beside the driver (package mssql) without an alias.
//
// Guarantees:
//   - Scripts are applied in version order, each at most once: a migrator
//     holds an application lock (sp_getapplock, owner Transaction) for each
//     script's transaction and re-reads the version under it, so two
//     migrators on one database never apply a script twice.
//   - A database whose version is newer than this binary's scripts is
//     refused with ErrNewerSchema before anything runs.
//   - The scripts are idempotent (every object guarded), so a database
//     prepared by hand converges too.
//   - With Options.DryRun nothing is executed: the SQL that would run is
//     written out, batch by batch, with its parameters.
//
// Batches are the text between lines that hold only GO (as sqlcmd and SSMS
// split them). Batches that name @DaemonUser are sent with it as a
// parameter: go-mssqldb then sends them through sp_executesql, where the
// parameter is visible to the batch (but not inside EXEC(@sql), so the
// scripts build their few dynamic statements with QUOTENAME and run them with
// sp_executesql). All other batches are sent as plain SQL batches without
// parameters; that is how CREATE OR ALTER PROCEDURE stays the first
// statement of its batch.
package mssqlschema

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/hartonomous/ooda/sql/migrate"
)

//go:embed *.sql
var files embed.FS

// DaemonUserParam is the name of the parameter that carries the daemon's
// database user into the batches that name it (@DaemonUser sysname).
const DaemonUserParam = "DaemonUser"

// ErrNewerSchema is returned for a database whose schema version is newer
// than the scripts of this binary: an older binary must not run against it.
var ErrNewerSchema = errors.New("database schema is newer than this binary")

var loaded = sync.OnceValues(func() ([]migrate.Migration, error) { return migrate.Load(files) })

// Migrations returns the embedded scripts in version order.
func Migrations() ([]migrate.Migration, error) { return loaded() }

// LatestVersion is the version the scripts of this binary install.
func LatestVersion() int {
	ms, err := Migrations()
	if err != nil {
		return 0 // the tests keep the scripts loadable
	}
	return len(ms)
}

// Options of Migrate.
type Options struct {
	// DaemonUser is the database user the daemon connects as: it owns the
	// services and becomes a member of the role ooda_daemon (not for dbo).
	// It must exist (CREATE USER … FOR LOGIN …) before the migration.
	// Required; "dbo" when the daemon runs as the database owner.
	DaemonUser string
	// DryRun, when set, receives the SQL that would run; nothing is executed
	// and only the current version is read.
	DryRun io.Writer
	// LockTimeout bounds the wait for another migrator's lock. Default 1 minute.
	LockTimeout time.Duration
}

func (o Options) withDefaults() Options {
	if o.LockTimeout <= 0 {
		o.LockTimeout = time.Minute
	}
	return o
}

func (o Options) validate() error {
	switch u := o.DaemonUser; {
	case u == "":
		return errors.New(`mssqlschema: Options.DaemonUser is empty: name the database user the daemon connects as ("dbo" for the database owner)`)
	case !utf8.ValidString(u) || strings.ContainsRune(u, 0):
		return fmt.Errorf("mssqlschema: Options.DaemonUser %q: must be valid UTF-8 without NUL", u)
	case utf8.RuneCountInString(u) > 128:
		// QUOTENAME returns NULL for more than 128 characters.
		return fmt.Errorf("mssqlschema: Options.DaemonUser %.40q…: a user name (sysname) has at most 128 characters", u)
	case o.LockTimeout > time.Duration(1<<31-1)*time.Millisecond:
		return fmt.Errorf("mssqlschema: Options.LockTimeout %s: at most %s", o.LockTimeout, time.Duration(1<<31-1)*time.Millisecond)
	}
	return nil
}

// Result says what Migrate did (or, in a dry run, would do).
type Result struct {
	From    int      // version found
	To      int      // version after (dry run: the version it would reach)
	Applied []string // scripts applied, in order (dry run: to apply)
	// Changed lists applied scripts whose text differs from this binary's
	// (sha256): they are not re-run; a schema change needs a new script.
	Changed []string
	DryRun  bool
}

// Batch is one GO-separated part of a script.
type Batch struct {
	SQL    string
	Line   int  // 1-based line of the script where the batch starts
	Params bool // names @DaemonUser: sent with the parameter
}

// Batches splits a script on lines that hold only GO (any case, surrounding
// blanks allowed), as sqlcmd does; batches that are only blanks and comment
// lines are dropped. Unlike go-mssqldb's batch.Split it neither removes
// backslash-newline sequences inside strings nor repeats a batch for "GO n",
// nor splits at a GO that follows a string on the same line: what is between
// two GO lines is sent verbatim.
func Batches(script string) []Batch {
	var out []Batch
	var cur []string
	start := 1
	flush := func(next int) {
		text := strings.Join(cur, "\n")
		if !commentOnly(text) {
			out = append(out, Batch{SQL: strings.Trim(text, "\r\n"), Line: start, Params: strings.Contains(withoutComments(text), "@"+DaemonUserParam)})
		}
		cur, start = nil, next
	}
	lines := strings.Split(script, "\n")
	for i, l := range lines {
		if strings.EqualFold(strings.TrimSpace(l), "GO") {
			flush(i + 2)
			continue
		}
		cur = append(cur, strings.TrimRight(l, "\r"))
	}
	flush(len(lines) + 1)
	return out
}

// withoutComments drops -- comments to the end of their line (the scripts
// keep "--" out of string literals), so that a comment that names
// @DaemonUser does not make its batch parameterised.
func withoutComments(text string) string {
	lines := strings.Split(text, "\n")
	for i, l := range lines {
		if j := strings.Index(l, "--"); j >= 0 {
			lines[i] = l[:j]
		}
	}
	return strings.Join(lines, "\n")
}

func commentOnly(text string) bool {
	for _, l := range strings.Split(text, "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "--") {
			return false
		}
	}
	return true
}

// Checksum is the hex sha256 of a script, recorded with its version.
func Checksum(script string) string {
	s := sha256.Sum256([]byte(script))
	return hex.EncodeToString(s[:])
}

// The migrator's own statements: constant text, values as parameters.
const (
	// sp_getapplock returns 0 or 1 when granted, a negative number when not
	// (sp_getapplock (Transact-SQL)); with @LockOwner = 'Transaction' the
	// lock ends with the transaction, so it cannot outlive a failed one.
	lockSQL = `DECLARE @Result int;
EXEC @Result = sys.sp_getapplock @Resource = N'ooda.schema-migration', @LockMode = N'Exclusive', @LockOwner = N'Transaction', @LockTimeout = @TimeoutMs;
SELECT @Result;`
	tableSQL   = `SELECT CASE WHEN OBJECT_ID(N'ooda.SchemaVersion', N'U') IS NULL THEN 0 ELSE 1 END;`
	versionSQL = `SELECT COALESCE(MAX(Version), 0) FROM ooda.SchemaVersion;`
	recordSQL  = `INSERT INTO ooda.SchemaVersion (Version, Name, Checksum) VALUES (@Version, @Name, @Checksum);`
	appliedSQL = `SELECT Version, Checksum FROM ooda.SchemaVersion ORDER BY Version;`
)

type queryRower interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// CurrentVersion reads the schema version of the database: 0 when
// ooda.SchemaVersion does not exist yet.
func CurrentVersion(ctx context.Context, db *sql.DB) (int, error) { return currentVersion(ctx, db) }

func currentVersion(ctx context.Context, q queryRower) (int, error) {
	var exists int
	if err := q.QueryRowContext(ctx, tableSQL).Scan(&exists); err != nil {
		return 0, fmt.Errorf("mssqlschema: read schema version: %w", err)
	}
	if exists == 0 {
		return 0, nil
	}
	var v int
	if err := q.QueryRowContext(ctx, versionSQL).Scan(&v); err != nil {
		return 0, fmt.Errorf("mssqlschema: read schema version: %w", err)
	}
	return v, nil
}

func newer(found, latest int) error {
	return fmt.Errorf("%w: the database is at schema version %d, this binary installs up to version %d: run a newer oodad", ErrNewerSchema, found, latest)
}

// Migrate brings the database to LatestVersion, or with opts.DryRun writes
// what it would run.
func Migrate(ctx context.Context, db *sql.DB, opts Options) (Result, error) {
	opts = opts.withDefaults()
	if err := opts.validate(); err != nil {
		return Result{}, err
	}
	ms, err := Migrations()
	if err != nil {
		return Result{}, err
	}
	cur, err := currentVersion(ctx, db)
	if err != nil {
		return Result{}, err
	}
	res := Result{From: cur, To: cur, DryRun: opts.DryRun != nil}
	if cur > len(ms) {
		return res, newer(cur, len(ms))
	}
	if cur > 0 {
		if res.Changed, err = changedScripts(ctx, db, ms); err != nil {
			return res, err
		}
	}
	if opts.DryRun != nil {
		if err := writeScript(opts.DryRun, ms, cur, opts); err != nil {
			return res, err
		}
		for _, m := range ms[cur:] {
			res.Applied = append(res.Applied, m.Name)
		}
		res.To = len(ms)
		return res, nil
	}
	for _, m := range ms[cur:] {
		applied, err := apply(ctx, db, m, len(ms), opts)
		if err != nil {
			return res, err
		}
		if applied {
			res.Applied = append(res.Applied, m.Name)
		}
		res.To = m.Version
	}
	return res, nil
}

// changedScripts lists the applied scripts whose text in this binary
// differs from what was applied (by checksum). The migrator does not re-run
// them: a changed script that is already applied needs a new numbered
// script; this says so instead of letting the schema drift silently.
func changedScripts(ctx context.Context, db *sql.DB, ms []migrate.Migration) ([]string, error) {
	rows, err := db.QueryContext(ctx, appliedSQL)
	if err != nil {
		return nil, fmt.Errorf("mssqlschema: read applied versions: %w", err)
	}
	defer rows.Close()
	var changed []string
	for rows.Next() {
		var v int
		var sum string
		if err := rows.Scan(&v, &sum); err != nil {
			return nil, fmt.Errorf("mssqlschema: read applied versions: %w", err)
		}
		if v >= 1 && v <= len(ms) && !strings.EqualFold(strings.TrimSpace(sum), Checksum(ms[v-1].SQL)) {
			changed = append(changed, ms[v-1].Name)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("mssqlschema: read applied versions: %w", err)
	}
	return changed, nil
}

// apply runs one script and records its version in one transaction, under
// the migration lock. applied=false: another migrator applied it meanwhile.
func apply(ctx context.Context, db *sql.DB, m migrate.Migration, latest int, opts Options) (applied bool, err error) {
	// The transaction must end by our Commit or Rollback, not by a
	// cancelled context racing the connection's reuse (SERVICE_BROKER.md).
	tx, err := db.BeginTx(context.WithoutCancel(ctx), nil)
	if err != nil {
		return false, fmt.Errorf("mssqlschema: %s: begin: %w", m.Name, err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	var lock int
	if err := tx.QueryRowContext(ctx, lockSQL, sql.Named("TimeoutMs", int32(opts.LockTimeout/time.Millisecond))).Scan(&lock); err != nil {
		return false, fmt.Errorf("mssqlschema: %s: take the migration lock: %w", m.Name, err)
	}
	if lock < 0 {
		return false, fmt.Errorf("mssqlschema: %s: the migration lock was not granted within %s (sp_getapplock returned %d): another migrator is running", m.Name, opts.LockTimeout, lock)
	}
	v, err := currentVersion(ctx, tx)
	switch {
	case err != nil:
		return false, err
	case v > latest:
		return false, newer(v, latest)
	case v >= m.Version:
		return false, tx.Commit()
	case v != m.Version-1:
		return false, fmt.Errorf("mssqlschema: %s: the database is at version %d, want %d before this script", m.Name, v, m.Version-1)
	}
	for i, b := range Batches(m.SQL) {
		var args []any
		if b.Params {
			args = append(args, sql.Named(DaemonUserParam, opts.DaemonUser))
		}
		if _, err := tx.ExecContext(ctx, b.SQL, args...); err != nil {
			return false, fmt.Errorf("mssqlschema: %s, batch %d (line %d): %w", m.Name, i+1, b.Line, err)
		}
	}
	if _, err := tx.ExecContext(ctx, recordSQL, sql.Named("Version", int32(m.Version)), sql.Named("Name", m.Name), sql.Named("Checksum", Checksum(m.SQL))); err != nil {
		return false, fmt.Errorf("mssqlschema: %s: record version %d: %w", m.Name, m.Version, err)
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("mssqlschema: %s: commit: %w", m.Name, err)
	}
	return true, nil
}

// WriteScript writes the SQL that Migrate runs on a database at version
// from, as a dry run shows it: per script, the transaction, the lock, the
// version check, each batch (parameters named in a comment above it) and the
// version row, separated by GO lines.
func WriteScript(w io.Writer, from int, opts Options) error {
	opts = opts.withDefaults()
	if err := opts.validate(); err != nil {
		return err
	}
	ms, err := Migrations()
	if err != nil {
		return err
	}
	if from > len(ms) {
		return newer(from, len(ms))
	}
	return writeScript(w, ms, from, opts)
}

func writeScript(w io.Writer, ms []migrate.Migration, from int, opts Options) error {
	var b strings.Builder
	fmt.Fprintf(&b, "-- ooda schema migration, dry run: nothing below was executed.\n")
	fmt.Fprintf(&b, "-- Database at version %d, this binary installs version %d: %d script(s), each in one transaction.\n", from, len(ms), len(ms)-from)
	fmt.Fprintf(&b, "-- The driver begins and commits each transaction; batches with parameters go through sp_executesql.\n")
	fmt.Fprintf(&b, "-- A listing for review, not a sqlcmd script: parameters are bound by oodad migrate (shown in\n")
	fmt.Fprintf(&b, "-- comments), and the session settings are go-mssqldb's (QUOTED_IDENTIFIER and ANSI_NULLS ON).\n")
	for _, m := range ms[from:] {
		fmt.Fprintf(&b, "\n-- %s (version %d, sha256 %s)\n", m.Name, m.Version, Checksum(m.SQL))
		b.WriteString("BEGIN TRANSACTION;\nGO\n")
		fmt.Fprintf(&b, "-- parameters: @TimeoutMs int = %d\n%s\nGO\n", int32(opts.LockTimeout/time.Millisecond), lockSQL)
		fmt.Fprintf(&b, "%s\nGO\n-- when ooda.SchemaVersion exists:\n%s\nGO\n", tableSQL, versionSQL)
		for _, bt := range Batches(m.SQL) {
			if bt.Params {
				fmt.Fprintf(&b, "-- parameters: @%s sysname = %s\n", DaemonUserParam, nLiteral(opts.DaemonUser))
			}
			fmt.Fprintf(&b, "%s\nGO\n", bt.SQL)
		}
		fmt.Fprintf(&b, "-- parameters: @Version int = %d, @Name nvarchar = %s, @Checksum nvarchar = %s\n%s\nGO\n",
			m.Version, nLiteral(m.Name), nLiteral(Checksum(m.SQL)), recordSQL)
		b.WriteString("COMMIT TRANSACTION;\nGO\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// nLiteral shows a parameter's value as a T-SQL literal, for the dry-run
// listing only (values are never spliced into executed SQL).
func nLiteral(s string) string { return "N'" + strings.ReplaceAll(s, "'", "''") + "'" }
