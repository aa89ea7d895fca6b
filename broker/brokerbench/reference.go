package brokerbench

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"time"

	"maragu.dev/goqite"
)

// Fsync measures the raw durable-write floor of the directory: overwrite a
// 4 KiB block of a preallocated file and fdatasync it, as a WAL commit does.
// It returns syncs per second and the median latency.
func Fsync(dir string, d time.Duration) (perSec float64, p50 time.Duration, err error) {
	f, err := os.CreateTemp(dir, "fsync-probe-*")
	if err != nil {
		return 0, 0, err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	const blocks = 256
	block := make([]byte, 4096)
	if _, err := f.Write(make([]byte, blocks*len(block))); err != nil {
		return 0, 0, err
	}
	if err := f.Sync(); err != nil {
		return 0, 0, err
	}
	var lat []time.Duration
	start := time.Now()
	for i := 0; time.Since(start) < d; i++ {
		t0 := time.Now()
		block[0] = byte(i)
		if _, err := f.WriteAt(block, int64(i%blocks*len(block))); err != nil {
			return 0, 0, err
		}
		if err := syscall.Fdatasync(int(f.Fd())); err != nil {
			return 0, 0, err
		}
		lat = append(lat, time.Since(t0))
	}
	slices.Sort(lat)
	return float64(len(lat)) / time.Since(start).Seconds(), lat[len(lat)/2], nil
}

func openSQLite(path, synchronous string) (*sql.DB, error) {
	q := url.Values{}
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous("+synchronous+")")
	q.Add("_pragma", "busy_timeout(10000)")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	return db, nil
}

// SQLiteCommits measures raw single-row commits per second (WAL, the given
// synchronous setting) in dir.
func SQLiteCommits(ctx context.Context, dir, synchronous string, d time.Duration) (float64, error) {
	db, err := openSQLite(filepath.Join(dir, "raw-commits.db"), synchronous)
	if err != nil {
		return 0, err
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, "CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, v BLOB)"); err != nil {
		return 0, err
	}
	v := make([]byte, 100)
	n, start := 0, time.Now()
	for ; time.Since(start) < d; n++ {
		if _, err := db.ExecContext(ctx, "INSERT INTO t (v) VALUES (?)", v); err != nil {
			return 0, err
		}
	}
	return float64(n) / time.Since(start).Seconds(), nil
}

// goqiteSchema is goqite's SQLite schema (schema_sqlite.sql of
// maragu.dev/goqite v0.4.0, which the module does not export).
const goqiteSchema = `
create table if not exists goqite (
  id text primary key default ('m_' || lower(hex(randomblob(16)))),
  created text not null default (strftime('%Y-%m-%dT%H:%M:%fZ')),
  updated text not null default (strftime('%Y-%m-%dT%H:%M:%fZ')),
  queue text not null,
  body blob not null,
  timeout text not null default (strftime('%Y-%m-%dT%H:%M:%fZ')),
  received integer not null default 0,
  priority integer not null default 0
) strict;
create trigger if not exists goqite_updated_timestamp after update on goqite begin
  update goqite set updated = strftime('%Y-%m-%dT%H:%M:%fZ') where id = old.id;
end;
create index if not exists goqite_queue_priority_created_idx on goqite (queue, priority desc, created);`

// Goqite measures goqite's send + receive + delete of one message, each its
// own transaction as goqite does them, on the same SQLite driver and settings.
// It returns messages per second.
func Goqite(ctx context.Context, dir, synchronous string, d time.Duration, body []byte) (float64, error) {
	db, err := openSQLite(filepath.Join(dir, "goqite.db"), synchronous)
	if err != nil {
		return 0, err
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, goqiteSchema); err != nil {
		return 0, fmt.Errorf("goqite schema: %w", err)
	}
	q := goqite.New(goqite.NewOpts{DB: db, Name: "bench"})
	n, start := 0, time.Now()
	for ; time.Since(start) < d; n++ {
		if err := q.Send(ctx, goqite.Message{Body: body}); err != nil {
			return 0, err
		}
		m, err := q.Receive(ctx)
		if err != nil {
			return 0, err
		}
		if m == nil {
			return 0, fmt.Errorf("goqite: received nothing after a send")
		}
		if err := q.Delete(ctx, m.ID); err != nil {
			return 0, err
		}
	}
	return float64(n) / time.Since(start).Seconds(), nil
}
