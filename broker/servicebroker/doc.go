// Package servicebroker will implement the broker contract over SQL Server
// Service Broker with go-mssqldb (issue #4). What is here so far needs no
// server and is tested without one: the classification of SQL Server errors
// into retryable ones and the contract's sentinels, the quoting of object
// names, and the conversion of conversation handles.
//
// Sources: SERVICE_BROKER.md (../shared), Microsoft's "Database engine events
// and errors" 8000–8999 and 9000–9999 for the numbers, the go-mssqldb source
// (error.go, uniqueidentifier.go) for the driver's types.
package servicebroker
