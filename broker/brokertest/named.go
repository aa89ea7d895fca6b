package brokertest

import "database/sql"

// sqlNamed is a named parameter, written @name in the statement: both SQLite
// and SQL Server (go-mssqldb) bind it.
func sqlNamed(name string, v any) sql.NamedArg { return sql.Named(name, v) }
