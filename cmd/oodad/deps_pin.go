//go:build tools

// This file is never built. It keeps the required modules at the versions the
// project fixed (go mod tidy honours every build tag) until the code that uses
// them lands: NATS and cron with the OODA loop, go-mssqldb with the SQL Server
// backend. Delete each line when its real import arrives.
package main

import (
	_ "github.com/microsoft/go-mssqldb"
	_ "github.com/nats-io/nats.go"
	_ "github.com/robfig/cron/v3"
)
