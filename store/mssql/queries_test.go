package mssql

import (
	"go/ast"
	"go/constant"
	"go/importer"
	"go/parser"
	"go/token"
	"go/types"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	mssqlschema "github.com/hartonomous/ooda/sql/mssql"
)

// statements type-checks queries.go and returns the value of each constant.
func statements(t *testing.T) map[string]string {
	t.Helper()
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "queries.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	info := &types.Info{Defs: map[*ast.Ident]types.Object{}}
	if _, err := (&types.Config{Importer: importer.Default()}).Check("mssql", fset, []*ast.File{f}, info); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for id, obj := range info.Defs {
		if c, ok := obj.(*types.Const); ok && c.Parent() == c.Pkg().Scope() {
			out[id.Name] = constant.StringVal(c.Val())
		}
	}
	// queries.go holds constants only: nothing in it can carry a runtime value.
	for _, d := range f.Decls {
		if g, ok := d.(*ast.GenDecl); !ok || g.Tok != token.CONST {
			t.Errorf("queries.go: declaration %T that is not a constant", d)
		}
	}
	return out
}

// sqlCode blanks string literals and bracketed names, leaving the code.
func sqlCode(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\'':
			for i++; i < len(s); i++ {
				if s[i] == '\'' {
					if i+1 < len(s) && s[i+1] == '\'' {
						i++ // a doubled quote inside the literal
						continue
					}
					break
				}
			}
			b.WriteString("''")
		case '[':
			for ; i < len(s) && s[i] != ']'; i++ {
			}
			b.WriteString("[]")
		default:
			b.WriteByte(s[i])
		}
	}
	return b.String()
}

var paramRef = regexp.MustCompile(`@@?[A-Za-z_][A-Za-z0-9_]*`)

func params(stmt string) []string {
	var out []string
	for _, p := range paramRef.FindAllString(sqlCode(stmt), -1) {
		if !strings.HasPrefix(p, "@@") && !slices.Contains(out, p[1:]) {
			out = append(out, p[1:])
		}
	}
	sort.Strings(out)
	return out
}

// Each statement is one statement: no batch separator, no semicolon except
// the one MERGE requires at its end, no comment that could hide code.
func TestEveryQueryIsOneStatement(t *testing.T) {
	t.Parallel()
	stmts := statements(t)
	queries := 0
	for name, text := range stmts {
		if !strings.HasPrefix(name, "q") {
			continue
		}
		queries++
		code := sqlCode(text)
		body := strings.TrimSuffix(strings.TrimSpace(code), ";")
		switch {
		case strings.Contains(body, ";"):
			t.Errorf("%s: more than one statement: %s", name, text)
		case strings.HasPrefix(strings.TrimSpace(code), "MERGE") != strings.HasSuffix(strings.TrimSpace(code), ";"):
			t.Errorf("%s: MERGE, and only MERGE, ends with a semicolon", name)
		case strings.Contains(code, "--") || strings.Contains(code, "/*"):
			t.Errorf("%s: comment in a statement", name)
		case regexp.MustCompile(`(?im)^\s*GO\s*$`).MatchString(code):
			t.Errorf("%s: GO in a statement", name)
		case regexp.MustCompile(`(?i)\bLIMIT\b|\bRETURNING\b|\bON CONFLICT\b|\|\|`).MatchString(code):
			t.Errorf("%s: SQLite syntax left in T-SQL", name)
		}
	}
	if queries < 30 {
		t.Fatalf("only %d query constants found", queries)
	}
}

// Every call in store.go passes a query constant (never a built string) and
// exactly the named parameters that its statement uses: a misspelt or
// missing parameter fails here, not on a server.
func TestCallsPassTheParametersTheirStatementNames(t *testing.T) {
	t.Parallel()
	stmts := statements(t)
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "store.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	used := map[string]bool{}
	calls := 0
	ast.Inspect(f, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok {
			return true
		}
		sel, ok := call.Fun.(*ast.SelectorExpr)
		if !ok || (sel.Sel.Name != "ExecContext" && sel.Sel.Name != "QueryContext" && sel.Sel.Name != "QueryRowContext") {
			return true
		}
		calls++
		pos := fset.Position(call.Pos())
		if len(call.Args) < 2 {
			t.Errorf("%s: %s without a query", pos, sel.Sel.Name)
			return true
		}
		id, ok := call.Args[1].(*ast.Ident)
		text, known := "", false
		if ok {
			text, known = stmts[id.Name]
		}
		if !known {
			t.Errorf("%s: the query is not one of the constants of queries.go", pos)
			return true
		}
		used[id.Name] = true
		var passed []string
		for _, a := range call.Args[2:] {
			named, ok := a.(*ast.CallExpr)
			if s, isSel := func() (*ast.SelectorExpr, bool) {
				if !ok {
					return nil, false
				}
				s, isSel := named.Fun.(*ast.SelectorExpr)
				return s, isSel
			}(); !isSel || s.Sel.Name != "Named" {
				t.Errorf("%s: %s: argument is not sql.Named(…)", pos, id.Name)
				continue
			}
			lit, ok := named.Args[0].(*ast.BasicLit)
			if !ok {
				t.Errorf("%s: %s: parameter name is not a literal", pos, id.Name)
				continue
			}
			name, _ := strconv.Unquote(lit.Value)
			passed = append(passed, name)
		}
		sort.Strings(passed)
		if want := params(text); !slices.Equal(passed, want) {
			t.Errorf("%s: %s passes %v, its statement names %v", pos, id.Name, passed, want)
		}
		return true
	})
	for name := range stmts {
		if strings.HasPrefix(name, "q") && !used[name] {
			t.Errorf("%s is never used", name)
		}
	}
	if calls < 30 {
		t.Fatalf("only %d calls found", calls)
	}
}

func TestTop(t *testing.T) {
	t.Parallel()
	for in, want := range map[int]int32{-1: 0, 0: 0, 10: 10, 1 << 40: 1<<31 - 1} {
		if got := top(in); got != want {
			t.Errorf("top(%d) = %d, want %d", in, got, want)
		}
	}
}

// qRecordReading finds an existing reading by the same SHA-256 key that the
// table's computed column key_hash holds: the two expressions must stay the
// same, or a reading recorded again would be inserted twice (and fail on
// the primary key) instead of being skipped.
func TestRecordReadingHashesAsTheTable(t *testing.T) {
	t.Parallel()
	q := statements(t)["qRecordReading"]
	expr := regexp.MustCompile(`key_hash = (CAST\(HASHBYTES\(.*?\) AS binary\(32\)\))\s+AND`).FindStringSubmatch(strings.Join(strings.Fields(q), " "))
	if expr == nil {
		t.Fatalf("qRecordReading does not compare key_hash: %s", q)
	}
	asColumns := strings.NewReplacer("CAST(@name AS nvarchar(128))", "name", "CAST(@object AS nvarchar(max))", "object").Replace(expr[1])
	ms, err := mssqlschema.Migrations()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if strings.Contains(m.SQL, "CREATE TABLE ooda.Reading") {
			if want := "key_hash AS " + asColumns + " PERSISTED NOT NULL"; !strings.Contains(strings.Join(strings.Fields(m.SQL), " "), want) {
				t.Fatalf("%s does not define %q (from qRecordReading)", m.Name, want)
			}
			return
		}
	}
	t.Fatal("no migration creates ooda.Reading")
}
