package mssqltarget

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/hartonomous/ooda/broker/servicebroker"
	"github.com/hartonomous/ooda/store"
)

var (
	_ store.Target = (*Target)(nil)
	_ store.Undoer = (*Target)(nil)
)

// Name is what Target.Name returns and what observations carry as Target.
const Name = "sqlserver"

// ErrNeverAutomatic is returned for an action that the catalog says no
// policy may make automatic (CATALOG, risk tiers): dropping or altering a
// clustered index or primary key, schema changes to tables, DELETE or
// TRUNCATE of user data, changes to billing tables. The actuator refuses it
// whatever the caller says.
var ErrNeverAutomatic = errors.New("never automatic")

// Options configures a Target. Zero values take the defaults shown.
type Options struct {
	// DSN of the database to observe and maintain (sqlserver://…). Required.
	DSN string
	// SensorTimeout bounds each sensor within Observe's deadline. Default 10s.
	SensorTimeout time.Duration
	// MinIndexPages: indexes smaller than this are not measured. Default 1000.
	MinIndexPages int64
	// MaxIndexes caps how many indexes one observation measures (largest
	// first). Default 50.
	MaxIndexes int
	// MaxRows caps the rows of each other sensor. Default 50.
	MaxRows int
	// FullScanRows: statistics on tables up to this many rows are updated
	// WITH FULLSCAN, larger ones WITH SAMPLE 25 PERCENT. Default 1,000,000.
	// (The DDL's own options are constants, see ddl.go: lock timeout 30 s,
	// low-priority wait 5 minutes; sensors use a 5 s lock timeout.)
	FullScanRows int64
	// RegressionWindow is how far back Query Store runtime stats are read.
	// Default 24h.
	RegressionWindow time.Duration
	// MinExecutions a plan needs in the window to count. Default 10.
	MinExecutions int
	// QueryStoreCapMB is the largest MAX_STORAGE_SIZE_MB the loop sets.
	// Default 10240.
	QueryStoreCapMB int64
	// Queues and Services are the loop's own Service Broker objects, the only
	// ones whose health is reported and whose conversations may be ended.
	// Default: the names of ooda.Topology (ooda.ObserveQueue, …).
	Queues   []string
	Services []string
	// ProtectedTables: a table whose name contains one of these
	// (case-insensitive) is never changed (indexes created or dropped).
	// Default ["billing"].
	ProtectedTables []string
	// MaxConversations caps END CONVERSATION per action. Default 100.
	MaxConversations int
	// WorkloadWindow is how far back the Hartonomous inference latencies
	// are read (at most MaxInferenceRows of them, newest first). Default
	// 24h; whole hours, at least 1.
	WorkloadWindow time.Duration
}

func (o *Options) withDefaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&o.SensorTimeout, 10*time.Second)
	def(&o.RegressionWindow, 24*time.Hour)
	def(&o.WorkloadWindow, 24*time.Hour)
	if o.MinIndexPages == 0 {
		o.MinIndexPages = 1000
	}
	if o.MaxIndexes == 0 {
		o.MaxIndexes = 50
	}
	if o.MaxRows == 0 {
		o.MaxRows = 50
	}
	if o.FullScanRows == 0 {
		o.FullScanRows = 1_000_000
	}
	if o.MinExecutions == 0 {
		o.MinExecutions = 10
	}
	if o.QueryStoreCapMB == 0 {
		o.QueryStoreCapMB = 10240
	}
	if o.Queues == nil {
		// The names of ooda.Topology; a test checks they agree.
		o.Queues = []string{"ooda.ObserveQueue", "ooda.OrientQueue", "ooda.DecideQueue", "ooda.ActQueue"}
	}
	if o.Services == nil {
		o.Services = []string{"//Hartonomous/OODA/TriggerService", "//Hartonomous/OODA/ObserveService",
			"//Hartonomous/OODA/OrientService", "//Hartonomous/OODA/DecideService", "//Hartonomous/OODA/ActService"}
	}
	if o.ProtectedTables == nil {
		o.ProtectedTables = []string{"billing"}
	}
	if o.MaxConversations == 0 {
		o.MaxConversations = 100
	}
}

func (o Options) validate() error {
	u, err := url.Parse(o.DSN)
	switch {
	case o.DSN == "":
		return fmt.Errorf("mssqltarget: DSN is empty: want sqlserver://…")
	case err != nil || u.Scheme != "sqlserver":
		return fmt.Errorf("mssqltarget: DSN must be a sqlserver:// URL")
	case o.MaxIndexes < 1 || o.MaxRows < 1 || o.MaxConversations < 1:
		return fmt.Errorf("mssqltarget: MaxIndexes %d, MaxRows %d, MaxConversations %d: want at least 1", o.MaxIndexes, o.MaxRows, o.MaxConversations)
	case o.MinIndexPages < 1 || o.MinExecutions < 1 || o.QueryStoreCapMB < 1 || o.FullScanRows < 0:
		return fmt.Errorf("mssqltarget: MinIndexPages %d, MinExecutions %d, QueryStoreCapMB %d, FullScanRows %d: want positive", o.MinIndexPages, o.MinExecutions, o.QueryStoreCapMB, o.FullScanRows)
	case o.RegressionWindow < time.Hour:
		return fmt.Errorf("mssqltarget: RegressionWindow %s: want at least 1h", o.RegressionWindow)
	case o.WorkloadWindow < time.Hour:
		return fmt.Errorf("mssqltarget: WorkloadWindow %s: want at least 1h", o.WorkloadWindow)
	}
	return nil
}

// Target observes and maintains a SQL Server database (CATALOG: SQL Server
// sensors and actions). It has a pool of its own, outside the broker's
// transactions: index work can take minutes and must not hold a
// conversation lock or the log.
type Target struct {
	db   *sql.DB
	opt  Options
	now  func() time.Time
	mu   sync.Mutex
	wait map[string]float64 // wait_time_ms per wait type at the last observation
}

// Open opens the target's pool on opt.DSN and checks that it connects.
func Open(ctx context.Context, opt Options) (*Target, error) {
	opt.withDefaults()
	if err := opt.validate(); err != nil {
		return nil, err
	}
	db, err := servicebroker.OpenDB(opt.DSN) // the daemon's session settings
	if err != nil {
		return nil, fmt.Errorf("mssqltarget: %w", err)
	}
	db.SetMaxOpenConns(4)
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("mssqltarget: connect: %w", err)
	}
	return &Target{db: db, opt: opt, now: time.Now}, nil
}

// Close closes the pool.
func (t *Target) Close() error { return t.db.Close() }

// SlowSensors tells the loop that this target's sensors (DMV scans, Query
// Store) may take long: its Observe step runs them outside the step's
// transactions (ooda.SlowSensors).
func (t *Target) SlowSensors() bool { return true }

// Name implements store.Target.
func (t *Target) Name() string { return Name }

// protected reports whether the table is one the loop never changes.
func (o Options) protected(table string) bool {
	l := strings.ToLower(table)
	for _, p := range o.ProtectedTables {
		if p != "" && strings.Contains(l, strings.ToLower(p)) {
			return true
		}
	}
	return false
}
