package mssqltarget

import (
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Object is a schema-qualified table, optionally with one of its indexes or
// statistics (Part). It is how readings and actions name what they are about.
//
// The text form is "schema.table" or "schema.table.part". A name that
// contains '.', '[', ']', '#', ':' or a space, or is empty, is written
// bracket-quoted with ] doubled, as QUOTENAME writes it, so that the text
// form parses back to the same three names: dbo.[a.b].[x]]y].
type Object struct {
	Schema, Table, Part string
}

// needsBrackets reports whether a name must be bracket-quoted in the text form.
func needsBrackets(s string) bool {
	return s == "" || strings.ContainsAny(s, ".[]#: \t\r\n") || s[0] == '['
}

func formatPart(s string) string {
	if needsBrackets(s) {
		return "[" + strings.ReplaceAll(s, "]", "]]") + "]"
	}
	return s
}

// String is the text form: schema.table[.part].
func (o Object) String() string {
	s := formatPart(o.Schema) + "." + formatPart(o.Table)
	if o.Part != "" {
		s += "." + formatPart(o.Part)
	}
	return s
}

// TableOnly is the object without its part.
func (o Object) TableOnly() Object { return Object{Schema: o.Schema, Table: o.Table} }

// ParseObject parses the text form back into names. It takes two parts
// (schema.table) or three (schema.table.part) and refuses anything else,
// names SQL Server would refuse (empty, longer than 128 characters, NUL,
// invalid UTF-8), and unbalanced brackets.
func ParseObject(s string) (Object, error) {
	parts, err := splitParts(s)
	if err != nil {
		return Object{}, err
	}
	for _, p := range parts {
		if err := validName(p); err != nil {
			return Object{}, fmt.Errorf("mssqltarget: object %q: %w", s, err)
		}
	}
	switch len(parts) {
	case 2:
		return Object{Schema: parts[0], Table: parts[1]}, nil
	case 3:
		return Object{Schema: parts[0], Table: parts[1], Part: parts[2]}, nil
	}
	return Object{}, fmt.Errorf("mssqltarget: object %q: want schema.table or schema.table.part, got %d parts", s, len(parts))
}

// splitParts splits on dots outside brackets and unquotes bracketed parts.
// bracketed reads the bracket-quoted name that starts at s[i] == '[' (]]
// stands for ]); next is the index after its closing ]. ok is false when
// the name is not closed.
func bracketed(s string, i int) (name string, next int, ok bool) {
	var b strings.Builder
	for i++; i < len(s); i++ {
		if s[i] != ']' {
			b.WriteByte(s[i])
			continue
		}
		if i+1 < len(s) && s[i+1] == ']' {
			b.WriteByte(']')
			i++
			continue
		}
		return b.String(), i + 1, true
	}
	return "", i, false
}

func splitParts(s string) ([]string, error) {
	var parts []string
	for i := 0; ; {
		var b strings.Builder
		if i < len(s) && s[i] == '[' {
			name, next, ok := bracketed(s, i)
			if !ok {
				return nil, fmt.Errorf("mssqltarget: object %q: unclosed [", s)
			}
			b.WriteString(name)
			i = next
			if i < len(s) && s[i] != '.' {
				return nil, fmt.Errorf("mssqltarget: object %q: text after ] at byte %d", s, i)
			}
		} else {
			for i < len(s) && s[i] != '.' {
				if s[i] == '[' || s[i] == ']' {
					return nil, fmt.Errorf("mssqltarget: object %q: bracket inside an unquoted name at byte %d", s, i)
				}
				b.WriteByte(s[i])
				i++
			}
		}
		parts = append(parts, b.String())
		if i >= len(s) {
			return parts, nil
		}
		i++ // the dot
		if i == len(s) {
			return nil, fmt.Errorf("mssqltarget: object %q ends with a dot", s)
		}
	}
}

// validName applies the rules of servicebroker.QuoteName before any query
// sees the name, so a bad name fails with the object in the message.
func validName(n string) error {
	switch {
	case n == "":
		return fmt.Errorf("empty name")
	case !utf8.ValidString(n):
		return fmt.Errorf("name is not valid UTF-8")
	case utf8.RuneCountInString(n) > 128:
		return fmt.Errorf("name longer than 128 characters")
	case strings.ContainsRune(n, 0):
		return fmt.Errorf("name contains NUL")
	}
	return nil
}

// PlanRef names a Query Store query and one of its plans: "query:12:plan:34".
type PlanRef struct {
	QueryID, PlanID int64
}

func (p PlanRef) String() string { return fmt.Sprintf("query:%d:plan:%d", p.QueryID, p.PlanID) }

// ParsePlanRef parses "query:<id>:plan:<id>" with positive ids.
func ParsePlanRef(s string) (PlanRef, error) {
	f := strings.Split(s, ":")
	if len(f) != 4 || f[0] != "query" || f[2] != "plan" {
		return PlanRef{}, fmt.Errorf("mssqltarget: plan reference %q: want query:<id>:plan:<id>", s)
	}
	q, err1 := strconv.ParseInt(f[1], 10, 64)
	p, err2 := strconv.ParseInt(f[3], 10, 64)
	if err1 != nil || err2 != nil || q <= 0 || p <= 0 {
		return PlanRef{}, fmt.Errorf("mssqltarget: plan reference %q: ids must be positive integers", s)
	}
	return PlanRef{QueryID: q, PlanID: p}, nil
}

// QueryStoreRef names the Query Store with the maximum size, in MB, it had
// when the rule saw it full: "query_store:max_mb=1000". Raising the size
// doubles that base; undoing restores it. Carrying the base in the object
// keeps both idempotent and independent of daemon restarts.
type QueryStoreRef struct{ BaseMB int64 }

func (q QueryStoreRef) String() string { return fmt.Sprintf("query_store:max_mb=%d", q.BaseMB) }

// ParseQueryStoreRef parses "query_store:max_mb=<n>" with n > 0.
func ParseQueryStoreRef(s string) (QueryStoreRef, error) {
	v, ok := strings.CutPrefix(s, "query_store:max_mb=")
	n, err := strconv.ParseInt(v, 10, 64)
	if !ok || err != nil || n <= 0 {
		return QueryStoreRef{}, fmt.Errorf("mssqltarget: query store reference %q: want query_store:max_mb=<n>", s)
	}
	return QueryStoreRef{BaseMB: n}, nil
}

// OodaIndexPrefix starts the name of every index the loop creates. The loop
// drops no index whose name does not start with it.
const OodaIndexPrefix = "IX_ooda_"

// IndexColumns are the key and included columns of an index the loop
// proposes, in order.
type IndexColumns struct {
	Key, Include []string
}

// OodaIndexName is the deterministic name of the index the loop creates for
// these columns on t: IX_ooda_<table, letters digits and _ only, at most 40>_<8 hex>.
// The hash covers schema, table and columns, so the same missing index always
// gets the same name (create is idempotent) and another one a different name.
func OodaIndexName(t Object, c IndexColumns) string {
	h := fnv.New32a()
	for _, s := range [][]string{{t.Schema, t.Table}, c.Key, {"\x00include"}, c.Include} {
		for _, p := range s {
			h.Write([]byte(p))
			h.Write([]byte{0})
		}
	}
	var b strings.Builder
	for _, r := range t.Table {
		if b.Len() >= 40 {
			break
		}
		if r == '_' || r < 128 && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			b.WriteRune(r)
		}
	}
	return fmt.Sprintf("%s%s_%08x", OodaIndexPrefix, b.String(), h.Sum32())
}

// ParseColumnList parses a column list as sys.dm_db_missing_index_details
// writes it: bracket-quoted names separated by ", " ("[a], [b]]c]"). An empty
// or NULL list is no columns.
func ParseColumnList(s string) ([]string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	var cols []string
	for i := 0; i < len(s); {
		if s[i] != '[' {
			return nil, fmt.Errorf("mssqltarget: column list %q: want [ at byte %d", s, i)
		}
		name, next, ok := bracketed(s, i)
		if !ok {
			return nil, fmt.Errorf("mssqltarget: column list %q: unclosed [", s)
		}
		i = next
		if err := validName(name); err != nil {
			return nil, fmt.Errorf("mssqltarget: column list %q: %w", s, err)
		}
		cols = append(cols, name)
		for i < len(s) && s[i] == ' ' {
			i++
		}
		if i < len(s) {
			if s[i] != ',' {
				return nil, fmt.Errorf("mssqltarget: column list %q: want , at byte %d", s, i)
			}
			i++
			for i < len(s) && s[i] == ' ' {
				i++
			}
			if i == len(s) {
				return nil, fmt.Errorf("mssqltarget: column list %q ends with a comma", s)
			}
		}
	}
	return cols, nil
}
