// Package mssqltest gives each test an empty SQL Server database of its own,
// created from OODA_TEST_MSSQL_DSN, with Service Broker enabled, and dropped
// when the test ends. It is the one place where the SQL Server suites skip:
// without the variable there is no server to run them on, and the skip
// message says so.
package mssqltest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	mssql "github.com/microsoft/go-mssqldb"
)

// EnvDSN names the variable that points the suites at a SQL Server. Its login
// must be able to create and drop databases (dbcreator or sysadmin); the
// suites never touch a database they did not create. The DSN must be in URL
// form: sqlserver://user:password@host:1433?encrypt=disable
const EnvDSN = "OODA_TEST_MSSQL_DSN"

// DSN returns a DSN for a new empty database with Service Broker enabled,
// dropped at cleanup. Without OODA_TEST_MSSQL_DSN it skips the test, naming
// the variable.
func DSN(t testing.TB) string {
	t.Helper()
	base := os.Getenv(EnvDSN)
	if base == "" {
		t.Skipf("%s is not set: this suite needs a SQL Server 2022 or newer (set %s=sqlserver://user:password@host:1433?encrypt=disable, a login that can create databases)", EnvDSN, EnvDSN)
	}
	u, err := url.Parse(base)
	if err != nil || u.Scheme != "sqlserver" {
		t.Fatalf("%s must be a sqlserver:// URL: %v", EnvDSN, err)
	}
	var r [6]byte
	_, _ = rand.Read(r[:])
	name := "ooda_test_" + hex.EncodeToString(r[:])
	quoted := "[" + name + "]" // letters, digits and _ only: nothing to escape

	admin := open(t, u.String())
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// CREATE DATABASE and ALTER DATABASE take no parameters for the name;
	// the name is ours, made of [a-z0-9_].
	for _, stmt := range []string{
		"CREATE DATABASE " + quoted + ";",
		// A new database copies model, whose broker is usually disabled.
		// ENABLE_BROKER needs exclusive access, which a new database has.
		"ALTER DATABASE " + quoted + " SET ENABLE_BROKER WITH ROLLBACK IMMEDIATE;",
	} {
		if _, err := admin.ExecContext(ctx, stmt); err != nil {
			t.Fatalf("mssqltest: %s: %v", stmt, err)
		}
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		for _, stmt := range []string{
			"ALTER DATABASE " + quoted + " SET SINGLE_USER WITH ROLLBACK IMMEDIATE;",
			"DROP DATABASE " + quoted + ";",
		} {
			if _, err := admin.ExecContext(ctx, stmt); err != nil {
				t.Errorf("mssqltest: %s: %v", stmt, err)
				return
			}
		}
	})
	q := u.Query()
	q.Set("database", name)
	u.RawQuery = q.Encode()
	return u.String()
}

// Open returns a pool on dsn with the session settings the backends use,
// closed at cleanup.
func Open(t testing.TB, dsn string) *sql.DB {
	t.Helper()
	return open(t, dsn)
}

func open(t testing.TB, dsn string) *sql.DB {
	t.Helper()
	c, err := mssql.NewConnector(dsn)
	if err != nil {
		t.Fatalf("mssqltest: %s: %v", redact(dsn), err)
	}
	c.SessionInitSQL = "SET XACT_ABORT ON;"
	db := sql.OpenDB(c)
	t.Cleanup(func() { _ = db.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		t.Fatalf("mssqltest: connect to %s: %v", redact(dsn), err)
	}
	return db
}

func redact(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return "(unparsable DSN)"
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}
