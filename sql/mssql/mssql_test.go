package mssqlschema_test

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/microsoft/go-mssqldb/batch"

	"github.com/hartonomous/ooda/broker"
	"github.com/hartonomous/ooda/ooda"
	mssqlschema "github.com/hartonomous/ooda/sql/mssql"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

func scripts(t *testing.T) map[string]string {
	t.Helper()
	ms, err := mssqlschema.Migrations()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, m := range ms {
		out[m.Name] = m.SQL
	}
	return out
}

// Every .sql file of the directory is a migration, in order, and named
// NNNN_name.sql: a file the migrator would skip cannot exist.
func TestEveryScriptIsMigratedInOrder(t *testing.T) {
	t.Parallel()
	entries, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	var onDisk []string
	for _, e := range entries {
		if !e.IsDir() && strings.EqualFold(filepath.Ext(e.Name()), ".sql") {
			onDisk = append(onDisk, e.Name())
		}
	}
	sort.Strings(onDisk)
	ms, err := mssqlschema.Migrations()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	name := regexp.MustCompile(`^[0-9]{4}_[a-z0-9_]+\.sql$`)
	for i, m := range ms {
		names = append(names, m.Name)
		if m.Version != i+1 || !name.MatchString(m.Name) {
			t.Errorf("migration %d: %s has version %d", i, m.Name, m.Version)
		}
		disk, err := os.ReadFile(m.Name)
		if err != nil || string(disk) != m.SQL {
			t.Errorf("%s: embedded text differs from the file (%v)", m.Name, err)
		}
	}
	if !slices.Equal(names, onDisk) {
		t.Fatalf("migrations %v, files %v", names, onDisk)
	}
	if got := mssqlschema.LatestVersion(); got != len(onDisk) || got < 4 {
		t.Fatalf("LatestVersion() = %d with %d scripts", got, len(onDisk))
	}
}

func TestBatches(t *testing.T) {
	t.Parallel()
	script := "-- header\nCREATE TABLE a (x int);\nGO\n\n  go  \r\nSELECT 'GO'\nGOTO done; -- not a separator\nGO\n-- only a comment\nGO\nSELECT @DaemonUser;\n"
	got := mssqlschema.Batches(script)
	want := []mssqlschema.Batch{
		{SQL: "-- header\nCREATE TABLE a (x int);", Line: 1},
		{SQL: "SELECT 'GO'\nGOTO done; -- not a separator", Line: 6},
		{SQL: "SELECT @DaemonUser;", Line: 11, Params: true},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("Batches:\n got %#v\nwant %#v", got, want)
	}
}

// Our splitter and the driver's agree on every script: the line-based rule
// is not hiding a batch boundary the usual tools would see differently.
func TestBatchesAgreeWithDriverSplitter(t *testing.T) {
	t.Parallel()
	norm := func(bs []string) []string {
		var out []string
		for _, b := range bs {
			b = strings.TrimSpace(strings.ReplaceAll(b, "\r", ""))
			only := true
			for _, l := range strings.Split(b, "\n") {
				if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "--") {
					only = false
				}
			}
			if !only {
				out = append(out, b)
			}
		}
		return out
	}
	for name, text := range scripts(t) {
		var ours []string
		for _, b := range mssqlschema.Batches(text) {
			ours = append(ours, b.SQL)
		}
		if a, b := norm(ours), norm(batch.Split(text, "GO")); !slices.Equal(a, b) {
			t.Errorf("%s: %d batches here, %d by go-mssqldb/batch", name, len(a), len(b))
		}
	}
}

var (
	lineComment = regexp.MustCompile(`--[^\n]*`)
	createWord  = regexp.MustCompile(`(?i)\bCREATE\s+(OR\s+ALTER\s+)?(\w+(\s+TYPE)?)`)
	ifWord      = regexp.MustCompile(`(?i)\bIF\b`)
	guardWords  = regexp.MustCompile(`(?i)NOT\s+EXISTS|IS\s+NULL`)
)

// Each script is safe to re-run: every CREATE is guarded by IF NOT EXISTS /
// IS NULL in the same statement or is CREATE OR ALTER (procedures and
// functions only, first in their batch, which goes without parameters), and
// nothing is dropped, truncated or ended WITH CLEANUP.
func TestScriptsAreIdempotent(t *testing.T) {
	t.Parallel()
	for name, text := range scripts(t) {
		for _, b := range mssqlschema.Batches(text) {
			code := lineComment.ReplaceAllString(b.SQL, "")
			for _, bad := range []string{`(?i)\bDROP\b`, `(?i)\bTRUNCATE\b`, `(?i)WITH\s+CLEANUP`} {
				if regexp.MustCompile(bad).MatchString(code) {
					t.Errorf("%s line %d: %s", name, b.Line, bad)
				}
			}
			for _, m := range createWord.FindAllStringSubmatchIndex(code, -1) {
				what := strings.ToUpper(code[m[4]:m[5]])
				if m[2] >= 0 { // CREATE OR ALTER
					if what != "PROCEDURE" && what != "FUNCTION" {
						t.Errorf("%s line %d: CREATE OR ALTER %s", name, b.Line, what)
					}
					if strings.TrimSpace(code[:m[0]]) != "" || b.Params {
						t.Errorf("%s line %d: CREATE OR ALTER %s must open a batch without parameters", name, b.Line, what)
					}
					continue
				}
				ifs := ifWord.FindAllStringIndex(code[:m[0]], -1)
				if len(ifs) == 0 {
					t.Errorf("%s line %d: unguarded CREATE %s", name, b.Line, what)
					continue
				}
				between := code[ifs[len(ifs)-1][0]:m[0]]
				if !guardWords.MatchString(between) || strings.Contains(between, ";") {
					t.Errorf("%s line %d: CREATE %s is not guarded by the IF before it: %q", name, b.Line, what, between)
				}
			}
		}
	}
}

// The daemon's user reaches SQL text only through QUOTENAME: no script
// concatenates the parameter itself.
func TestDaemonUserIsOnlyQuoted(t *testing.T) {
	t.Parallel()
	raw := regexp.MustCompile(`\+\s*@DaemonUser|@DaemonUser\s*\+`)
	anyCase := regexp.MustCompile(`(?i)@daemonuser`)
	for name, text := range scripts(t) {
		code := lineComment.ReplaceAllString(text, "")
		if raw.MatchString(code) {
			t.Errorf("%s: @DaemonUser concatenated into SQL text", name)
		}
		for _, m := range anyCase.FindAllString(code, -1) {
			if m != "@"+mssqlschema.DaemonUserParam {
				t.Errorf("%s: %s is spelled differently from the parameter the migrator sends", name, m)
			}
		}
	}
}

// The Service Broker names in the scripts are exactly those of ooda.Topology().
func TestScriptsCreateTheTopology(t *testing.T) {
	t.Parallel()
	var all strings.Builder
	for _, m := range mustMigrations(t) {
		all.WriteString(lineComment.ReplaceAllString(m, ""))
	}
	text := all.String()
	top := ooda.Topology()

	var types []string
	for _, m := range regexp.MustCompile(`CREATE MESSAGE TYPE \[([^\]]+)\] VALIDATION = NONE;`).FindAllStringSubmatch(text, -1) {
		types = append(types, m[1])
	}
	if !sameSet(types, top.MessageTypes) {
		t.Errorf("message types %v, topology %v", types, top.MessageTypes)
	}

	contracts := map[string][]string{}
	for _, m := range regexp.MustCompile(`CREATE CONTRACT \[([^\]]+)\] \(\[([^\]]+)\] SENT BY INITIATOR\);`).FindAllStringSubmatch(text, -1) {
		contracts[m[1]] = append(contracts[m[1]], m[2])
	}
	if len(contracts) != len(top.Contracts) {
		t.Errorf("contracts %v, topology %v", contracts, top.Contracts)
	}
	for _, c := range top.Contracts {
		var want []string
		for mt, by := range c.Messages {
			if by != broker.SentByInitiator {
				t.Fatalf("topology contract %s: %s sent by %v", c.Name, mt, by)
			}
			want = append(want, mt)
		}
		if !sameSet(contracts[c.Name], want) {
			t.Errorf("contract %s carries %v, topology %v", c.Name, contracts[c.Name], want)
		}
	}

	var queues []string
	for _, m := range regexp.MustCompile(`CREATE QUEUE (\w+\.\w+) WITH STATUS = ON, RETENTION = OFF, POISON_MESSAGE_HANDLING \(STATUS = ON\);`).FindAllStringSubmatch(text, -1) {
		queues = append(queues, m[1])
	}
	if !sameSet(queues, top.Queues) {
		t.Errorf("queues %v, topology %v", queues, top.Queues)
	}
	if regexp.MustCompile(`(?i)ACTIVATION`).MatchString(strings.ReplaceAll(text, "activation", "")) {
		t.Error("a queue has an ACTIVATION clause: activation must stay off")
	}

	services := map[string]string{}
	for _, m := range regexp.MustCompile(`CREATE SERVICE \[([^\]]+)\] AUTHORIZATION ' \+ @Owner\s*\+ N' ON QUEUE (\w+\.\w+)(?: \(([^)]*)\))?;'`).FindAllStringSubmatch(text, -1) {
		services[m[1]] = m[2] + " " + m[3]
	}
	if len(services) != len(top.Services) {
		t.Errorf("services %v, topology %v", services, top.Services)
	}
	for _, s := range top.Services {
		var cs []string
		for _, c := range s.Contracts {
			cs = append(cs, "["+c+"]")
		}
		if want := s.Queue + " " + strings.Join(cs, ", "); services[s.Name] != want {
			t.Errorf("service %s: %q, topology %q", s.Name, services[s.Name], want)
		}
	}
}

func mustMigrations(t *testing.T) []string {
	t.Helper()
	ms, err := mssqlschema.Migrations()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range ms {
		out = append(out, m.SQL)
	}
	return out
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// The dry run of a fresh database, as a golden file: what an operator reviews
// before running `oodad migrate`.
func TestDryRunGolden(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	if err := mssqlschema.WriteScript(&buf, 0, mssqlschema.Options{DaemonUser: "ooda_svc"}); err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "dryrun_fresh.sql")
	if *update {
		if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Fatalf("dry run differs from %s (run go test -update after checking the diff)", golden)
	}
	out := buf.String()
	if n := strings.Count(out, "\nCOMMIT TRANSACTION;\n"); n != mssqlschema.LatestVersion() {
		t.Errorf("%d transactions for %d scripts", n, mssqlschema.LatestVersion())
	}
	if !strings.Contains(out, "-- parameters: @DaemonUser sysname = N'ooda_svc'") {
		t.Error("the dry run does not show the daemon user parameter")
	}
	// From the latest version there is nothing to do.
	buf.Reset()
	if err := mssqlschema.WriteScript(&buf, mssqlschema.LatestVersion(), mssqlschema.Options{DaemonUser: "dbo"}); err != nil || strings.Contains(buf.String(), "GO") {
		t.Errorf("dry run at the latest version: %v\n%s", err, buf.String())
	}
}

func TestOptionsAreValidated(t *testing.T) {
	t.Parallel()
	for _, u := range []string{"", "a\x00b", strings.Repeat("u", 129), "\xff"} {
		if err := mssqlschema.WriteScript(&bytes.Buffer{}, 0, mssqlschema.Options{DaemonUser: u}); err == nil || !strings.Contains(err.Error(), "DaemonUser") {
			t.Errorf("DaemonUser %q: %v", u, err)
		}
	}
	if err := mssqlschema.WriteScript(&bytes.Buffer{}, mssqlschema.LatestVersion()+1, mssqlschema.Options{DaemonUser: "dbo"}); err == nil {
		t.Error("a newer database version was accepted")
	}
}
