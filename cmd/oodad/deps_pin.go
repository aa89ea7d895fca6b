//go:build tools

// This file is never built. It keeps go-mssqldb, a required module, at the
// version the project fixed (go mod tidy honours every build tag) until the
// SQL Server backend imports it for real; delete it then.
package main

import _ "github.com/microsoft/go-mssqldb"
