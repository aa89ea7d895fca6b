package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"strings"
	"testing"
)

func runOodad(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errb bytes.Buffer
	err = run(context.Background(), args, func(string) string { return "" }, &out, &errb)
	return out.String(), errb.String(), err
}

func TestUsageErrors(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"UnknownCommand", []string{"frobnicate"}, `unknown command "frobnicate"`},
		{"UnknownBenchmark", []string{"bench", "--only", "B1,B9"}, `"B9" is not one of B1, B2, B3`},
		{"ZeroMessages", []string{"bench", "--messages", "0"}, "--messages: 0 must be at least 1"},
		{"BadSynchronous", []string{"bench", "--synchronous", "off"}, `--synchronous: "off" is not one of FULL, EXTRA, NORMAL`},
		{"NegativeDuration", []string{"bench", "--duration", "-1s"}, "--duration: -1s must be positive"},
		{"StrayArgument", []string{"bench", "now"}, `unexpected argument "now"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			_, _, err := runOodad(t, c.args...)
			var u usageError
			if !errors.As(err, &u) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want a usage error naming %q", err, c.want)
			}
		})
	}
}

func TestHelpListsCommandsAndFlags(t *testing.T) {
	t.Parallel()
	out, _, err := runOodad(t, "--help")
	if err != nil || !strings.Contains(out, "bench") || !strings.Contains(out, "version") {
		t.Fatalf("--help: %v\n%s", err, out)
	}
	_, stderr, err := runOodad(t, "bench", "--help")
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("bench --help: %v", err)
	}
	for _, f := range []string{"-json", "-only", "-duration", "-messages", "-batch1-messages", "-synchronous", "-dir"} {
		if !strings.Contains(stderr, f) {
			t.Errorf("bench --help does not list %s", f)
		}
	}
}

func TestVersion(t *testing.T) {
	t.Parallel()
	out, _, err := runOodad(t, "version")
	if err != nil || !strings.HasPrefix(out, "oodad ") {
		t.Fatalf("version: %q, %v", out, err)
	}
}

// TestBenchJSON runs a short real benchmark (B1) and checks the machine-
// readable output a script would read.
func TestBenchJSON(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	out, _, err := runOodad(t, "bench", "--json", "--only", "B1", "--duration", "100ms", "--dir", dir)
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(strings.NewReader(out))
	if !sc.Scan() {
		t.Fatal("no output")
	}
	var env map[string]map[string]any
	if err := json.Unmarshal(sc.Bytes(), &env); err != nil || env["env"]["synchronous"] != "FULL" || env["env"]["fdatasync_per_sec"].(float64) <= 0 {
		t.Fatalf("first line is not the environment: %s (%v)", sc.Text(), err)
	}
	arms := 0
	for sc.Scan() {
		var r map[string]any
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		for _, k := range []string{"id", "arm", "value", "unit", "reference", "ratio"} {
			if _, ok := r[k]; !ok {
				t.Fatalf("line %s lacks %q", sc.Text(), k)
			}
		}
		if r["id"] != "B1" || r["value"].(float64) <= 0 || r["ratio"].(float64) <= 0 {
			t.Fatalf("implausible arm: %s", sc.Text())
		}
		arms++
	}
	if arms < 2 {
		t.Fatalf("%d arms, want B1 against fdatasync and against raw SQLite", arms)
	}
	// --dir was used, and each arm's engine left its database there.
	entries, _ := os.ReadDir(dir)
	if len(entries) == 0 {
		t.Fatal("--dir holds nothing")
	}
}
