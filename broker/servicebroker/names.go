package servicebroker

import (
	"fmt"
	"strings"
	"unicode/utf8"

	mssql "github.com/microsoft/go-mssqldb"

	"github.com/hartonomous/ooda/broker"
)

// QuoteName bracket-quotes one part of an object name, as QUOTENAME does:
// ] doubles, and the result is safe to place in a statement. Names come from
// our topology and from DMVs, never from users; values are always parameters.
// It refuses what SQL Server would not accept as a name: empty, longer than
// 128 characters, or containing NUL.
func QuoteName(name string) (string, error) {
	switch {
	case name == "":
		return "", fmt.Errorf("servicebroker: empty object name")
	case !utf8.ValidString(name):
		return "", fmt.Errorf("servicebroker: object name %q is not valid UTF-8", name)
	case utf8.RuneCountInString(name) > 128:
		return "", fmt.Errorf("servicebroker: object name %.40q… is longer than 128 characters", name)
	case strings.ContainsRune(name, 0):
		return "", fmt.Errorf("servicebroker: object name %q contains NUL", name)
	}
	return "[" + strings.ReplaceAll(name, "]", "]]") + "]", nil
}

// QuoteQualified quotes schema.object ("ooda.ObserveQueue" → [ooda].[ObserveQueue]).
func QuoteQualified(schema, object string) (string, error) {
	s, err := QuoteName(schema)
	if err != nil {
		return "", err
	}
	o, err := QuoteName(object)
	if err != nil {
		return "", err
	}
	return s + "." + o, nil
}

// Handle converts a conversation handle for a query parameter. Both types
// hold the GUID in its textual byte order; go-mssqldb swaps to the wire
// order in Value and back in Scan, so a handle scanned from RECEIVE and
// passed back as a parameter names the same conversation.
func Handle(id broker.ID) mssql.UniqueIdentifier { return mssql.UniqueIdentifier(id) }

// ID converts a scanned uniqueidentifier to a broker ID.
func ID(u mssql.UniqueIdentifier) broker.ID { return broker.ID(u) }
