// Package sql_test checks the Go code that talks to SQL Server for T-SQL
// built from values. Values must travel as parameters; the only text spliced
// into a statement is an object name that went through QuoteName (or an
// embedded .sql file of the migrations). The check follows each query
// argument back through constants, local variables, struct fields, function
// parameters (to every call site) and return values; whatever it cannot
// prove safe is reported with its position.
package sql_test

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// sqlServerPackages are the directories whose Go code sends T-SQL.
var sqlServerPackages = []string{
	"broker/servicebroker",
	"broker/servicebroker/preflight",
	"broker/servicebroker/applock",
	"sql/mssql",
	"store/mssql",
	"store/mssqltarget",
}

func TestNoTSQLBuiltFromValues(t *testing.T) {
	t.Parallel()
	checked := 0
	for _, dir := range sqlServerPackages {
		files, err := parseDir(filepath.Join("..", dir))
		if err != nil {
			t.Fatalf("%s: %v", dir, err)
		}
		if len(files) == 0 {
			t.Errorf("%s: no Go files: the list of SQL Server packages is out of date", dir)
			continue
		}
		n, problems := check(files)
		checked += n
		for _, p := range problems {
			t.Errorf("%s: query text not proven constant or quoted: %s", dir, p)
		}
	}
	if checked < 20 {
		t.Fatalf("only %d query calls found: the checker lost track of the code", checked)
	}
}

// TestCheckerCatchesConcatenation shows that the check fails on the mistakes
// it exists for, and passes their safe forms.
func TestCheckerCatchesConcatenation(t *testing.T) {
	t.Parallel()
	src := `package p
const base = "SELECT name FROM sys.objects WHERE schema_id = SCHEMA_ID(@s)"
type tx struct{ stmt string }
func open(q string) *tx {
	name, _ := QuoteName(q)
	return &tx{stmt: "RECEIVE TOP (@n) * FROM " + name}
}
func (t *tx) run(query string) { db.ExecContext(ctx, query) }
func ok1(s string) { db.QueryContext(ctx, base, s) }
func ok2(t *tx)    { db.ExecContext(ctx, t.stmt) }
func ok3(t *tx)    { t.run(base + " AND 1 = 1") }
func bad1(v string) { db.ExecContext(ctx, "DELETE FROM t WHERE k = '" + v + "'") }
func bad2(v string) { q := fmt.Sprintf("EXEC sp_x %s", v); db.QueryRowContext(ctx, q) }
func bad3(t *tx, v string) { t.run("SELECT " + v) }
func ok4(n string) { q := func(x string) string { s, _ := QuoteName(x); return s }; db.ExecContext(ctx, "DROP INDEX " + q(n)) }
func bad4(v string) { q := func(x string) string { return "'" + x + "'" }; db.ExecContext(ctx, "SELECT " + q(v)) }
`
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "p.go", src, 0)
	if err != nil {
		t.Fatal(err)
	}
	n, problems := check([]*parsed{{f, fset}})
	if n != 7 {
		t.Errorf("found %d query calls, want 7", n)
	}
	joined := strings.Join(problems, "\n")
	for _, fn := range []string{"bad1", "bad2", "bad3", "bad4"} {
		if !strings.Contains(joined, fn) {
			t.Errorf("%s not reported; problems:\n%s", fn, joined)
		}
	}
	for _, fn := range []string{"ok1", "ok2", "ok3", "ok4"} {
		if strings.Contains(joined, fn+" ") || strings.Contains(joined, fn+":") {
			t.Errorf("%s reported although safe:\n%s", fn, joined)
		}
	}
}

type parsed struct {
	f    *ast.File
	fset *token.FileSet
}

func parseDir(dir string) ([]*parsed, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []*parsed
	fset := token.NewFileSet() // one per package: positions stay distinct
	for _, e := range entries {
		n := e.Name()
		if e.IsDir() || !strings.HasSuffix(n, ".go") || strings.HasSuffix(n, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join(dir, n), nil, 0)
		if err != nil {
			return nil, err
		}
		out = append(out, &parsed{f, fset})
	}
	return out, nil
}

// queryMethods maps a method that takes T-SQL text to the argument index of
// the text.
var queryMethods = map[string]int{
	"ExecContext": 1, "QueryContext": 1, "QueryRowContext": 1, "PrepareContext": 1,
	"Exec": 0, "Query": 0, "QueryRow": 0, "Prepare": 0,
}

// quoting functions make any name safe to splice; reading embedded files
// and splitting them into batches keeps their text reviewed SQL.
var safeCalls = map[string]bool{
	"QuoteName": true, "QuoteQualified": true, "quoteName": true, "quoteQualified": true,
	"ReadFile": true, // embed.FS / fs.ReadFile of the migration scripts
	"Batches":  true, // sql/mssql: the GO-separated batches of those scripts
}

// passThrough calls are safe when all their arguments are.
var passThrough = map[string]bool{
	"Join": true, "Sprintf": true, "string": true, "Split": true, "TrimSpace": true,
	"ReplaceAll": true, "Fields": true, "Lines": true, "append": true,
}

type site struct {
	fn   *ast.FuncDecl
	expr ast.Expr
}

type checker struct {
	consts  map[string]bool
	assigns map[string][]site // key: fn.var, var, or .field
	funcs   map[string][]*ast.FuncDecl
	calls   map[string][]site // calls of a function by name: the call expression
	memo    map[ast.Expr]bool
	busy    map[ast.Expr]bool
	trail   []string // the call sites that passed unsafe text, for the report
	where   func(ast.Node) string
}

func check(files []*parsed) (int, []string) {
	c := &checker{consts: map[string]bool{}, assigns: map[string][]site{}, funcs: map[string][]*ast.FuncDecl{},
		calls: map[string][]site{}, memo: map[ast.Expr]bool{}, busy: map[ast.Expr]bool{}}
	for _, p := range files {
		c.collect(p.f)
	}
	// The files of one package share a FileSet.
	c.where = func(nd ast.Node) string { return files[0].fset.Position(nd.Pos()).String() }
	var problems []string
	n := 0
	for _, p := range files {
		for _, d := range p.f.Decls {
			fd, ok := d.(*ast.FuncDecl)
			if !ok || fd.Body == nil {
				continue
			}
			ast.Inspect(fd.Body, func(nd ast.Node) bool {
				call, ok := nd.(*ast.CallExpr)
				if !ok {
					return true
				}
				sel, ok := call.Fun.(*ast.SelectorExpr)
				if !ok {
					return true
				}
				i, ok := queryMethods[sel.Sel.Name]
				if !ok || len(call.Args) <= i {
					return true
				}
				n++
				c.trail = nil
				if !c.safe(fd, call.Args[i]) {
					problems = append(problems, fmt.Sprintf("%s in %s%s", p.fset.Position(call.Pos()), fd.Name.Name, strings.Join(c.trail, "")))
				}
				return true
			})
		}
	}
	sort.Strings(problems)
	return n, problems
}

func (c *checker) collect(f *ast.File) {
	for _, d := range f.Decls {
		switch d := d.(type) {
		case *ast.GenDecl:
			for _, s := range d.Specs {
				vs, ok := s.(*ast.ValueSpec)
				if !ok {
					continue
				}
				for i, name := range vs.Names {
					if d.Tok == token.CONST {
						c.consts[name.Name] = true
					} else if i < len(vs.Values) {
						c.assigns[name.Name] = append(c.assigns[name.Name], site{nil, vs.Values[i]})
					}
				}
			}
		case *ast.FuncDecl:
			c.funcs[d.Name.Name] = append(c.funcs[d.Name.Name], d)
			if d.Body == nil {
				continue
			}
			fd := d
			ast.Inspect(d.Body, func(nd ast.Node) bool {
				switch nd := nd.(type) {
				case *ast.AssignStmt:
					for i, l := range nd.Lhs {
						var r ast.Expr
						switch {
						case len(nd.Rhs) == len(nd.Lhs):
							r = nd.Rhs[i]
						case len(nd.Rhs) == 1:
							r = nd.Rhs[0] // v, err := f(): the call decides
						}
						if r != nil {
							c.assign(fd, l, r)
						}
					}
				case *ast.DeclStmt:
					if gd, ok := nd.Decl.(*ast.GenDecl); ok {
						for _, s := range gd.Specs {
							if vs, ok := s.(*ast.ValueSpec); ok {
								for i, name := range vs.Names {
									if gd.Tok == token.CONST {
										c.consts[name.Name] = true
									} else if i < len(vs.Values) {
										c.assign(fd, name, vs.Values[i])
									}
								}
							}
						}
					}
				case *ast.RangeStmt:
					if nd.Value != nil {
						c.assign(fd, nd.Value, nd.X)
					}
				case *ast.CompositeLit:
					for _, e := range nd.Elts {
						if kv, ok := e.(*ast.KeyValueExpr); ok {
							if k, ok := kv.Key.(*ast.Ident); ok {
								c.assigns["."+k.Name] = append(c.assigns["."+k.Name], site{fd, kv.Value})
							}
						}
					}
				case *ast.CallExpr:
					if name := calleeName(nd.Fun); name != "" {
						c.calls[name] = append(c.calls[name], site{fd, nd})
					}
				}
				return true
			})
		}
	}
}

func (c *checker) assign(fd *ast.FuncDecl, lhs, rhs ast.Expr) {
	switch l := lhs.(type) {
	case *ast.Ident:
		c.assigns[fd.Name.Name+"."+l.Name] = append(c.assigns[fd.Name.Name+"."+l.Name], site{fd, rhs})
	case *ast.SelectorExpr:
		c.assigns["."+l.Sel.Name] = append(c.assigns["."+l.Sel.Name], site{fd, rhs})
	case *ast.IndexExpr:
		c.assign(fd, l.X, rhs)
	}
}

func calleeName(fun ast.Expr) string {
	switch f := fun.(type) {
	case *ast.Ident:
		return f.Name
	case *ast.SelectorExpr:
		return f.Sel.Name
	case *ast.IndexExpr: // generic instantiation
		return calleeName(f.X)
	}
	return ""
}

func (c *checker) all(sites []site) bool {
	if len(sites) == 0 {
		return false
	}
	for _, s := range sites {
		if !c.safe(s.fn, s.expr) {
			return false
		}
	}
	return true
}

func (c *checker) safe(fd *ast.FuncDecl, e ast.Expr) bool {
	if v, ok := c.memo[e]; ok {
		return v
	}
	if c.busy[e] {
		return true // a cycle (q += …): the other assignments decide
	}
	c.busy[e] = true
	v := c.eval(fd, e)
	delete(c.busy, e)
	c.memo[e] = v
	return v
}

func (c *checker) eval(fd *ast.FuncDecl, e ast.Expr) bool {
	switch e := e.(type) {
	case *ast.BasicLit:
		return true
	case *ast.ParenExpr:
		return c.safe(fd, e.X)
	case *ast.BinaryExpr:
		return e.Op == token.ADD && c.safe(fd, e.X) && c.safe(fd, e.Y)
	case *ast.IndexExpr:
		return c.safe(fd, e.X)
	case *ast.CompositeLit:
		for _, el := range e.Elts {
			if kv, ok := el.(*ast.KeyValueExpr); ok {
				el = kv.Value
			}
			if !c.safe(fd, el) {
				return false
			}
		}
		return true
	case *ast.SelectorExpr:
		if x, ok := e.X.(*ast.Ident); ok && x.Obj == nil && c.funcs[x.Name] == nil && c.assigns[x.Name] == nil && ast.IsExported(e.Sel.Name) && fd != nil && !isLocal(c, fd, x.Name) {
			// pkg.Name from another package: only its constants are
			// trusted, and we cannot see them; refuse.
			return false
		}
		// A field of a value that came whole from a safe source (b.SQL for
		// b ranging over Batches(…)), or a field only ever set to safe text.
		if x, ok := e.X.(*ast.Ident); ok && fd != nil {
			if s, ok := c.assigns[fd.Name.Name+"."+x.Name]; ok && c.all(s) {
				return true
			}
		}
		return c.all(c.assigns["."+e.Sel.Name])
	case *ast.Ident:
		if c.consts[e.Name] {
			return true
		}
		if fd != nil {
			if idx, ok := paramIndex(fd, e.Name); ok {
				return c.callersPass(fd, idx)
			}
			if s, ok := c.assigns[fd.Name.Name+"."+e.Name]; ok {
				return c.all(s)
			}
		}
		return c.all(c.assigns[e.Name])
	case *ast.CallExpr:
		name := calleeName(e.Fun)
		switch {
		case safeCalls[name]:
			return true
		case passThrough[name]:
			for _, a := range e.Args {
				if !c.safe(fd, a) {
					return false
				}
			}
			return true
		}
		fds := c.funcs[name]
		if len(fds) == 0 {
			// A closure of this function (q := func(n string) string {…}):
			// what it returns decides.
			if fd != nil {
				for _, s := range c.assigns[fd.Name.Name+"."+name] {
					if lit, ok := s.expr.(*ast.FuncLit); ok {
						return c.litReturnsSafe(fd, lit)
					}
				}
			}
			return false
		}
		for _, f := range fds {
			if !c.returnsSafe(f) {
				return false
			}
		}
		return true
	}
	return false
}

func isLocal(c *checker, fd *ast.FuncDecl, name string) bool {
	_, ok := c.assigns[fd.Name.Name+"."+name]
	_, isParam := paramIndex(fd, name)
	return ok || isParam
}

// paramIndex is the position of parameter name in fd's signature (the
// receiver excluded).
func paramIndex(fd *ast.FuncDecl, name string) (int, bool) {
	i := 0
	for _, f := range fd.Type.Params.List {
		if len(f.Names) == 0 {
			i++
			continue
		}
		for _, n := range f.Names {
			if n.Name == name {
				return i, true
			}
			i++
		}
	}
	return 0, false
}

// callersPass: every call of fd passes a safe argument at idx.
func (c *checker) callersPass(fd *ast.FuncDecl, idx int) bool {
	calls := c.calls[fd.Name.Name]
	if len(calls) == 0 {
		return false
	}
	for _, s := range calls {
		call := s.expr.(*ast.CallExpr)
		if idx >= len(call.Args) {
			continue // variadic tail not passed
		}
		if !c.safe(s.fn, call.Args[idx]) {
			c.trail = append(c.trail, fmt.Sprintf(", text passed by %s at %s", s.fn.Name.Name, c.where(call)))
			return false
		}
	}
	return true
}

func (c *checker) litReturnsSafe(fd *ast.FuncDecl, lit *ast.FuncLit) bool {
	ok, any := true, false
	ast.Inspect(lit.Body, func(nd ast.Node) bool {
		if r, is := nd.(*ast.ReturnStmt); is && len(r.Results) > 0 {
			any = true
			if !c.safe(fd, r.Results[0]) {
				ok = false
			}
		}
		return true
	})
	return ok && any
}

func (c *checker) returnsSafe(f *ast.FuncDecl) bool {
	if f.Body == nil {
		return false
	}
	ok, any := true, false
	ast.Inspect(f.Body, func(nd ast.Node) bool {
		if _, lit := nd.(*ast.FuncLit); lit {
			return false
		}
		if r, is := nd.(*ast.ReturnStmt); is && len(r.Results) > 0 {
			any = true
			if !c.safe(f, r.Results[0]) {
				ok = false
			}
		}
		return true
	})
	return ok && any
}
