package servicebroker

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	mssql "github.com/microsoft/go-mssqldb"

	"github.com/hartonomous/ooda/broker"
)

var _ broker.Broker = (*Broker)(nil)

// ErrTopologyMismatch: an object of the topology is missing from the
// database or differs from it. `oodad migrate` creates them.
var ErrTopologyMismatch = errors.New("service broker objects missing or different from the topology")

// Default option values.
const (
	DefaultMaxBodyBytes = 1 << 20
	DefaultMaxOpenConns = 16
)

// Options configures Open.
type Options struct {
	// DSN is a go-mssqldb connection string, preferably in URL form:
	// sqlserver://user:password@host:1433?database=name. It must not set
	// "connection timeout" (see checkDSN) nor "guid conversion".
	DSN string
	// Topology is what the broker serves; the database must already hold
	// its objects (TopologyDDL, `oodad migrate`). Queue names are
	// schema.name ("ooda.ObserveQueue"); an unqualified name is in dbo.
	Topology broker.Topology
	// MaxBodyBytes is the largest body Send accepts (default 1 MiB).
	MaxBodyBytes int
	// MaxOpenConns bounds the pool (default 16). Each pending WAITFOR
	// (RECEIVE) and each open transaction holds one connection for its
	// whole length, so size it as concurrent receivers + other concurrent
	// transactions + the state store's needs.
	MaxOpenConns int
}

func (o Options) withDefaults() Options {
	if o.MaxBodyBytes == 0 {
		o.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if o.MaxOpenConns == 0 {
		o.MaxOpenConns = DefaultMaxOpenConns
	}
	return o
}

func (o Options) validate() error {
	if o.MaxBodyBytes < 0 {
		return fmt.Errorf("servicebroker: Options.MaxBodyBytes = %d: must not be negative (0 means %d)", o.MaxBodyBytes, DefaultMaxBodyBytes)
	}
	if o.MaxOpenConns < 0 {
		return fmt.Errorf("servicebroker: Options.MaxOpenConns = %d: must not be negative (0 means %d)", o.MaxOpenConns, DefaultMaxOpenConns)
	}
	if err := o.Topology.Validate(); err != nil {
		return fmt.Errorf("servicebroker: Options.Topology: %w", err)
	}
	return checkDSN(o.DSN)
}

// Broker is the broker contract over SQL Server Service Broker.
type Broker struct {
	db    *sql.DB
	opts  Options
	stmts *statements

	services  map[string]broker.Service
	contracts map[string]broker.Contract

	closeOnce sync.Once
	closing   context.Context // done when Close starts
	close     context.CancelFunc
}

// OpenDB opens a pool on dsn with the session settings every SQL Server
// connection of the daemon uses: XACT_ABORT ON, so that an error or an
// attention (a cancelled context) rolls the whole transaction back instead
// of leaving it open with its locks. SET in an ordinary statement would not
// survive the pool's session reset (go-mssqldb Connector.SessionInitSQL). An
// error does not show the DSN's secrets.
func OpenDB(dsn string) (*sql.DB, error) {
	c, err := mssql.NewConnector(dsn)
	if err != nil {
		return nil, redact(fmt.Errorf("servicebroker: DSN %s: %w", redactDSN(dsn), err), dsn)
	}
	c.SessionInitSQL = "SET XACT_ABORT ON;"
	return sql.OpenDB(c), nil
}

// Open connects, checks that Service Broker is enabled in the database and
// that every object of the topology exists, and returns the broker.
func Open(ctx context.Context, opts Options) (*Broker, error) {
	opts = opts.withDefaults()
	if err := opts.validate(); err != nil {
		return nil, err
	}
	stmts, err := newStatements(opts.Topology)
	if err != nil {
		return nil, err
	}
	db, err := OpenDB(opts.DSN)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(opts.MaxOpenConns)
	db.SetMaxIdleConns(opts.MaxOpenConns)
	b := &Broker{db: db, opts: opts, stmts: stmts, services: map[string]broker.Service{}, contracts: map[string]broker.Contract{}}
	for _, s := range opts.Topology.Services {
		b.services[s.Name] = s
	}
	for _, c := range opts.Topology.Contracts {
		b.contracts[c.Name] = c
	}
	b.closing, b.close = context.WithCancel(context.Background())
	if err := b.check(ctx); err != nil {
		_ = db.Close()
		return nil, err
	}
	return b, nil
}

// DB returns the pool, for the state store and the sensors that share it.
func (b *Broker) DB() *sql.DB { return b.db }

// Close stops the broker: Begin fails with ErrClosed, a pending Receive ends
// (its transaction is aborted), and every later call of an open transaction
// fails with ErrClosed; only Rollback is left. It closes the pool.
func (b *Broker) Close() error {
	var err error
	b.closeOnce.Do(func() {
		b.close()
		err = b.db.Close()
	})
	return err
}

func (b *Broker) isClosed() bool { return b.closing.Err() != nil }

// check makes Open's checks; each missing object is one error naming it
// and the fix.
func (b *Broker) check(ctx context.Context) error {
	if err := b.db.PingContext(ctx); err != nil {
		_, err = Classify(err)
		return redact(fmt.Errorf("servicebroker: connect to %s: %w", redactDSN(b.opts.DSN), err), b.opts.DSN)
	}
	var (
		dbName  string
		enabled bool
	)
	if err := b.db.QueryRowContext(ctx, sqlBrokerEnabled).Scan(&dbName, &enabled); err != nil {
		_, err = Classify(err)
		return fmt.Errorf("servicebroker: read sys.databases: %w", err)
	}
	if !enabled {
		return fmt.Errorf("servicebroker: database %q: %w: run ALTER DATABASE [%s] SET ENABLE_BROKER (or SET NEW_BROKER on a restored copy whose broker id is already in use); both need exclusive access (WITH ROLLBACK IMMEDIATE)", dbName, ErrBrokerNotEnabled, strings.ReplaceAll(dbName, "]", "]]"))
	}
	cat, err := b.readCatalog(ctx)
	if err != nil {
		return err
	}
	if errs := compareCatalog(b.opts.Topology, cat); len(errs) > 0 {
		return fmt.Errorf("servicebroker: database %q: %w", dbName, errors.Join(errs...))
	}
	return nil
}

// catalog is what the database holds, as read by Open.
type catalog struct {
	messageTypes map[string]bool
	contracts    map[string]map[string]broker.SentBy // contract → message type → sent by
	queues       map[[2]string]bool                  // {schema, name}
	services     map[string]catalogService
}

type catalogService struct {
	queue     [2]string
	contracts []string
}

// queryEach runs query on the pool and calls row for each row, reading to
// the end.
func (b *Broker) queryEach(ctx context.Context, what, query string, row func(*sql.Rows) error) error {
	rows, err := b.db.QueryContext(ctx, query)
	if err != nil {
		_, err = Classify(err)
		return fmt.Errorf("servicebroker: read %s: %w", what, err)
	}
	defer rows.Close()
	for rows.Next() {
		if err := row(rows); err != nil {
			return fmt.Errorf("servicebroker: read %s: %w", what, err)
		}
	}
	if err := rows.Err(); err != nil {
		_, err = Classify(err)
		return fmt.Errorf("servicebroker: read %s: %w", what, err)
	}
	return nil
}

func (b *Broker) readCatalog(ctx context.Context) (*catalog, error) {
	cat := &catalog{
		messageTypes: map[string]bool{},
		contracts:    map[string]map[string]broker.SentBy{},
		queues:       map[[2]string]bool{},
		services:     map[string]catalogService{},
	}
	err := b.queryEach(ctx, "sys.service_message_types", sqlMessageTypes, func(r *sql.Rows) error {
		var name string
		if err := r.Scan(&name); err != nil {
			return err
		}
		cat.messageTypes[name] = true
		return nil
	})
	if err == nil {
		err = b.queryEach(ctx, "sys.service_contracts", sqlContracts, func(r *sql.Rows) error {
			var (
				contract       string
				msgType        sql.NullString
				byInit, byTarg sql.NullBool
			)
			if err := r.Scan(&contract, &msgType, &byInit, &byTarg); err != nil {
				return err
			}
			if cat.contracts[contract] == nil {
				cat.contracts[contract] = map[string]broker.SentBy{}
			}
			if msgType.Valid {
				by := broker.SentByAny
				switch {
				case byInit.Bool && !byTarg.Bool:
					by = broker.SentByInitiator
				case byTarg.Bool && !byInit.Bool:
					by = broker.SentByTarget
				}
				cat.contracts[contract][msgType.String] = by
			}
			return nil
		})
	}
	if err == nil {
		err = b.queryEach(ctx, "sys.service_queues", sqlQueues, func(r *sql.Rows) error {
			var schema, name string
			if err := r.Scan(&schema, &name); err != nil {
				return err
			}
			cat.queues[[2]string{schema, name}] = true
			return nil
		})
	}
	if err == nil {
		err = b.queryEach(ctx, "sys.services", sqlServices, func(r *sql.Rows) error {
			var (
				svc, schema, queue string
				contract           sql.NullString
			)
			if err := r.Scan(&svc, &schema, &queue, &contract); err != nil {
				return err
			}
			s := cat.services[svc]
			s.queue = [2]string{schema, queue}
			if contract.Valid {
				s.contracts = append(s.contracts, contract.String)
			}
			cat.services[svc] = s
			return nil
		})
	}
	return cat, err
}

const fixMigrate = "run `oodad migrate` (or the statements of TopologyDDL)"

// compareCatalog returns one error per object of t that cat lacks or holds
// differently. Names compare byte for byte, as Service Broker compares
// service names.
func compareCatalog(t broker.Topology, cat *catalog) []error {
	var errs []error
	miss := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format+"; "+fixMigrate, append([]any{ErrTopologyMismatch}, args...)...))
	}
	for _, m := range t.MessageTypes {
		if !cat.messageTypes[m] {
			miss("message type %q does not exist", m)
		}
	}
	for _, c := range t.Contracts {
		have, ok := cat.contracts[c.Name]
		if !ok {
			miss("contract %q does not exist", c.Name)
			continue
		}
		for _, m := range slices.Sorted(maps.Keys(c.Messages)) {
			by, ok := have[m]
			switch {
			case !ok:
				miss("contract %q does not carry message type %q", c.Name, m)
			case by != c.Messages[m]:
				miss("contract %q: message type %q is SENT BY %s, want %s", c.Name, m, sentBy(by), sentBy(c.Messages[m]))
			}
		}
	}
	for _, q := range t.Queues {
		n, err := parseQueueName(q)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if !cat.queues[[2]string{n.schema, n.object}] {
			miss("queue %s does not exist", n.quoted)
		}
	}
	for _, s := range t.Services {
		have, ok := cat.services[s.Name]
		if !ok {
			miss("service %q does not exist", s.Name)
			continue
		}
		n, err := parseQueueName(s.Queue)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if have.queue != [2]string{n.schema, n.object} {
			miss("service %q is on queue [%s].[%s], want %s", s.Name, have.queue[0], have.queue[1], n.quoted)
		}
		for _, c := range s.Contracts {
			if !slices.Contains(have.contracts, c) {
				miss("service %q does not accept contract %q", s.Name, c)
			}
		}
	}
	return errs
}

func sentBy(by broker.SentBy) string {
	switch by {
	case broker.SentByInitiator:
		return "INITIATOR"
	case broker.SentByTarget:
		return "TARGET"
	}
	return "ANY"
}

// Begin starts a transaction. The transaction is begun with a context that
// ctx's cancellation does not reach (database/sql would roll it back behind
// the caller's back); ctx bounds the retries of transient failures.
func (b *Broker) Begin(ctx context.Context) (broker.Tx, error) {
	if b.isClosed() {
		return nil, fmt.Errorf("servicebroker: begin: %w", broker.ErrClosed)
	}
	sqlTx, err := retryTransient(ctx, newBeginBackOff(), func() (*sql.Tx, error) {
		if b.isClosed() {
			return nil, broker.ErrClosed
		}
		return b.db.BeginTx(context.WithoutCancel(ctx), nil)
	})
	if err != nil {
		if b.isClosed() {
			return nil, fmt.Errorf("servicebroker: begin: %w", broker.ErrClosed)
		}
		return nil, fmt.Errorf("servicebroker: begin: %w", err)
	}
	return &tx{b: b, sqlTx: sqlTx}, nil
}

// QueueStatus reports a queue's state. SQL Server does not expose the
// poison rule's count of consecutive rolled-back receives:
// ConsecutiveRollbacks is always 0 here. Depth counts every row of the
// queue; under READ COMMITTED (without READ_COMMITTED_SNAPSHOT) the count
// may wait for a receiving transaction to end, bounded by ctx.
func (b *Broker) QueueStatus(ctx context.Context, queue string) (broker.QueueStatus, error) {
	q, ok := b.stmts.queues[queue]
	if !ok {
		return broker.QueueStatus{}, fmt.Errorf("servicebroker: queue status: %w %q", broker.ErrUnknownQueue, queue)
	}
	if b.isClosed() {
		return broker.QueueStatus{}, fmt.Errorf("servicebroker: queue status of %s: %w", queue, broker.ErrClosed)
	}
	st := broker.QueueStatus{Name: queue}
	var oldest sql.NullTime
	err := b.db.QueryRowContext(ctx, q.status, sql.Named("name", q.name.object), sql.Named("schema", q.name.schema)).
		Scan(&st.ReceiveEnabled, &st.Depth, &oldest)
	if errors.Is(err, sql.ErrNoRows) {
		return st, fmt.Errorf("servicebroker: queue status: %w %s (not in sys.service_queues; %s)", broker.ErrUnknownQueue, q.name.quoted, fixMigrate)
	}
	if err != nil {
		_, err = Classify(err)
		return st, fmt.Errorf("servicebroker: queue status of %s: %w", queue, err)
	}
	if oldest.Valid {
		st.OldestEnqueuedAt = oldest.Time
	}
	return st, nil
}

// EnableQueue turns receiving back on after the poison rule turned it off
// (ALTER QUEUE ... WITH STATUS = ON). Do it once the message that kept
// failing is out of the way, or the rule disables the queue again.
func (b *Broker) EnableQueue(ctx context.Context, queue string) error {
	q, ok := b.stmts.queues[queue]
	if !ok {
		return fmt.Errorf("servicebroker: enable queue: %w %q", broker.ErrUnknownQueue, queue)
	}
	if b.isClosed() {
		return fmt.Errorf("servicebroker: enable queue %s: %w", queue, broker.ErrClosed)
	}
	if _, err := b.db.ExecContext(ctx, q.enable); err != nil {
		_, err = Classify(err)
		return fmt.Errorf("servicebroker: enable queue %s: %w", queue, err)
	}
	return nil
}

// receiveGrace is how much longer than the server's TIMEOUT a receive may
// take before its context gives up on the server (an attention, which
// aborts the transaction).
const receiveGrace = 30 * time.Second

// receiveMargin is kept between a caller's deadline and the server
// TIMEOUT, so that a wait that reaches the deadline ends as an empty
// receive rather than as an attention that aborts the transaction.
const receiveMargin = time.Second
