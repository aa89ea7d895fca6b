package mssqltarget

import (
	"strings"
	"testing"
)

func TestObjectRoundTrip(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		o    Object
		text string
	}{
		{Object{"dbo", "Orders", "IX_Orders_Date"}, "dbo.Orders.IX_Orders_Date"},
		{Object{"dbo", "Orders", ""}, "dbo.Orders"},
		{Object{"dbo", "a.b", "x]y"}, "dbo.[a.b].[x]]y]"},
		{Object{"sales", "we]ird; DROP TABLE x--", "IX [1]"}, "sales.[we]]ird; DROP TABLE x--].[IX [1]]]"},
		{Object{"s", "#tmp", "ix:1"}, "s.[#tmp].[ix:1]"},
		{Object{"s", "[t]", "i"}, "s.[[t]]].i"},
		{Object{"Größe", "表", "ix"}, "Größe.表.ix"},
	} {
		if got := c.o.String(); got != c.text {
			t.Errorf("%#v.String() = %q, want %q", c.o, got, c.text)
		}
		back, err := ParseObject(c.text)
		if err != nil || back != c.o {
			t.Errorf("ParseObject(%q) = %#v, %v; want %#v", c.text, back, err, c.o)
		}
	}
}

func TestParseObjectRefuses(t *testing.T) {
	t.Parallel()
	for _, s := range []string{
		"", "dbo", "a.b.c.d", "dbo.", ".t", "dbo..ix", "dbo.[t", "dbo.[t]x", "dbo.t]", "dbo.t[x",
		"dbo." + strings.Repeat("n", 129), "dbo.a\x00b", "dbo.\xff",
	} {
		if o, err := ParseObject(s); err == nil {
			t.Errorf("ParseObject(%q) = %#v, want an error", s, o)
		}
	}
	if _, err := ParseObject("dbo." + strings.Repeat("n", 128)); err != nil {
		t.Errorf("a 128-character name is allowed: %v", err)
	}
}

func TestRefs(t *testing.T) {
	t.Parallel()
	p, err := ParsePlanRef("query:12:plan:34")
	if err != nil || p != (PlanRef{12, 34}) || p.String() != "query:12:plan:34" {
		t.Fatalf("ParsePlanRef = %v, %v", p, err)
	}
	for _, s := range []string{"query:0:plan:1", "query:1:plan:-1", "query:x:plan:1", "q:1:p:2", "query:1:plan:2:x", ""} {
		if _, err := ParsePlanRef(s); err == nil {
			t.Errorf("ParsePlanRef(%q) accepted", s)
		}
	}
	q, err := ParseQueryStoreRef("query_store:max_mb=1000")
	if err != nil || q.BaseMB != 1000 || q.String() != "query_store:max_mb=1000" {
		t.Fatalf("ParseQueryStoreRef = %v, %v", q, err)
	}
	for _, s := range []string{"query_store:max_mb=0", "query_store:max_mb=", "query_store", "query_store:max_mb=1e3"} {
		if _, err := ParseQueryStoreRef(s); err == nil {
			t.Errorf("ParseQueryStoreRef(%q) accepted", s)
		}
	}
}

func TestParseColumnList(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"[a]", []string{"a"}},
		{"[a], [b]", []string{"a", "b"}},
		{"[we]]ird], [c,d], [ sp ]", []string{"we]ird", "c,d", " sp "}},
	} {
		got, err := ParseColumnList(c.in)
		if err != nil || strings.Join(got, "|") != strings.Join(c.want, "|") || len(got) != len(c.want) {
			t.Errorf("ParseColumnList(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
	for _, s := range []string{"a", "[a", "[a] [b]", "[a],", "[], [b]", "[a]; DROP"} {
		if got, err := ParseColumnList(s); err == nil {
			t.Errorf("ParseColumnList(%q) = %q, want an error", s, got)
		}
	}
}

func TestOodaIndexName(t *testing.T) {
	t.Parallel()
	tbl := Object{Schema: "dbo", Table: "Orders"}
	a := OodaIndexName(tbl, IndexColumns{Key: []string{"CustomerID"}, Include: []string{"Total"}})
	if a != OodaIndexName(tbl, IndexColumns{Key: []string{"CustomerID"}, Include: []string{"Total"}}) {
		t.Fatal("the same columns give different names")
	}
	if !strings.HasPrefix(a, "IX_ooda_Orders_") || len(a) != len("IX_ooda_Orders_")+8 {
		t.Fatalf("name %q: want IX_ooda_Orders_<8 hex>", a)
	}
	for _, other := range []string{
		OodaIndexName(tbl, IndexColumns{Key: []string{"CustomerID", "Total"}}),
		OodaIndexName(tbl, IndexColumns{Key: []string{"Total"}, Include: []string{"CustomerID"}}),
		OodaIndexName(Object{Schema: "sales", Table: "Orders"}, IndexColumns{Key: []string{"CustomerID"}, Include: []string{"Total"}}),
	} {
		if other == a {
			t.Errorf("different index, same name %q", a)
		}
	}
	long := OodaIndexName(Object{Schema: "s", Table: strings.Repeat("Ü]x.", 40)}, IndexColumns{Key: []string{"c"}})
	if len(long) > 128 || strings.ContainsAny(long, "].Ü") {
		t.Fatalf("name %q: want at most 128 characters of [A-Za-z0-9_]", long)
	}
}
