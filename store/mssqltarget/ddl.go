package mssqltarget

import (
	"fmt"
	"strings"

	"github.com/hartonomous/ooda/broker/servicebroker"
)

// ddlKind is one statement an actuator runs.
type ddlKind int

const (
	ddlUpdateStatsFullscan ddlKind = iota + 1 // UPDATE STATISTICS … WITH FULLSCAN
	ddlUpdateStatsSample                      // UPDATE STATISTICS … WITH SAMPLE 25 PERCENT
	ddlReorganize                             // ALTER INDEX … REORGANIZE
	ddlRebuildOnline                          // ALTER INDEX … REBUILD WITH (ONLINE = ON (WAIT_AT_LOW_PRIORITY …), RESUMABLE = ON)
	ddlResume                                 // ALTER INDEX … RESUME WITH (WAIT_AT_LOW_PRIORITY …)
	ddlCreateIndex                            // CREATE NONCLUSTERED INDEX IX_ooda_… WITH (ONLINE = ON)
	ddlDropIndex                              // DROP INDEX IX_ooda_… ON …
)

// The options of the DDL are constants, not settings: these statements take
// no variables for them, and no value is ever spliced into T-SQL.
const (
	// actionLockTimeout starts every DDL batch: 30 s. Each batch sets its
	// own (see shortLockTimeout on how long a SET lasts).
	actionLockTimeout = "SET LOCK_TIMEOUT 30000;\n"
	// lowPriority: wait up to 5 minutes for the Sch-M lock at low priority,
	// then give up (SELF) rather than block others or kill blockers (ALTER
	// INDEX, WAIT_AT_LOW_PRIORITY; MAX_DURATION is in minutes).
	lowPriority = "WAIT_AT_LOW_PRIORITY (MAX_DURATION = 5 MINUTES, ABORT_AFTER_WAIT = SELF)"
	// samplePercent: UPDATE STATISTICS on tables above Options.FullScanRows.
	samplePercent = " WITH SAMPLE 25 PERCENT;"
)

// ddlRequest is what ddl turns into text. Object is the table with the
// index or statistics as Part, spelled as the catalog spells it.
type ddlRequest struct {
	Kind    ddlKind
	Object  Object
	Columns IndexColumns // ddlCreateIndex
}

// ddl is the one place where this package splices text into T-SQL. These
// statements take no object names as parameters, so it splices object and
// column names, each through servicebroker.QuoteName, after the caller
// re-resolved them in the catalog; everything else is constant text.
func ddl(r ddlRequest) (string, error) {
	tbl, err := servicebroker.QuoteQualified(r.Object.Schema, r.Object.Table)
	if err != nil {
		return "", err
	}
	part, err := servicebroker.QuoteName(r.Object.Part)
	if err != nil {
		return "", fmt.Errorf("mssqltarget: %s: index or statistics name: %w", r.Object, err)
	}
	switch r.Kind {
	case ddlUpdateStatsFullscan:
		return actionLockTimeout + "UPDATE STATISTICS " + tbl + " (" + part + ") WITH FULLSCAN;", nil
	case ddlUpdateStatsSample:
		return actionLockTimeout + "UPDATE STATISTICS " + tbl + " (" + part + ")" + samplePercent, nil
	case ddlReorganize:
		return actionLockTimeout + "ALTER INDEX " + part + " ON " + tbl + " REORGANIZE;", nil
	case ddlRebuildOnline:
		return actionLockTimeout + "ALTER INDEX " + part + " ON " + tbl + " REBUILD WITH (ONLINE = ON (" + lowPriority + "), RESUMABLE = ON);", nil
	case ddlResume:
		// "WAIT_AT_LOW_PRIORITY used with RESUMABLE=ON and ONLINE = ON"
		// applies to RESUME too (ALTER INDEX, <resumable_index_option>).
		return actionLockTimeout + "ALTER INDEX " + part + " ON " + tbl + " RESUME WITH (" + lowPriority + ");", nil
	case ddlCreateIndex:
		if !strings.HasPrefix(r.Object.Part, OodaIndexPrefix) {
			return "", fmt.Errorf("mssqltarget: %s: the loop creates only indexes named %s…", r.Object, OodaIndexPrefix)
		}
		if len(r.Columns.Key) == 0 || len(r.Columns.Key) > 16 {
			return "", fmt.Errorf("mssqltarget: %s: %d key columns: want 1 to 16", r.Object, len(r.Columns.Key))
		}
		keys, err := quoteList(r.Columns.Key)
		if err != nil {
			return "", err
		}
		if len(r.Columns.Include) == 0 {
			return actionLockTimeout + "CREATE NONCLUSTERED INDEX " + part + " ON " + tbl + " (" + keys + ") WITH (ONLINE = ON);", nil
		}
		inc, err := quoteList(r.Columns.Include)
		if err != nil {
			return "", err
		}
		return actionLockTimeout + "CREATE NONCLUSTERED INDEX " + part + " ON " + tbl + " (" + keys + ") INCLUDE (" + inc + ") WITH (ONLINE = ON);", nil
	case ddlDropIndex:
		if !strings.HasPrefix(r.Object.Part, OodaIndexPrefix) {
			return "", fmt.Errorf("mssqltarget: %s: %w: the loop drops only indexes named %s…", r.Object, ErrNeverAutomatic, OodaIndexPrefix)
		}
		// No ONLINE option: DROP INDEX takes it for clustered indexes only
		// (DROP INDEX, <drop_clustered_index_option>).
		return actionLockTimeout + "DROP INDEX " + part + " ON " + tbl + ";", nil
	}
	return "", fmt.Errorf("mssqltarget: unknown statement kind %d", r.Kind)
}

// quoteList quotes each name and joins them with ", ".
func quoteList(names []string) (string, error) {
	var q []string
	for _, n := range names {
		s, err := servicebroker.QuoteName(n)
		if err != nil {
			return "", err
		}
		q = append(q, s)
	}
	return strings.Join(q, ", "), nil
}
