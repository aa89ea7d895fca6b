package main

import (
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
	"github.com/rs/zerolog"

	"github.com/hartonomous/ooda/broker/servicebroker"
	"github.com/hartonomous/ooda/ooda"
)

// config is every setting of oodad run. Each has a flag and an environment
// variable (the systemd EnvironmentFile); the flag wins.
type config struct {
	StateDir    string        // local files: the SQLite state, the embedded NATS store
	StateDSN    string        // sqlserver://…: the state is on SQL Server (empty: SQLite in StateDir)
	TargetDSN   string        // sqlserver://…; empty: the state database
	NATSURL     string        // empty: embedded; "none": off
	NATSListen  string        // embedded server address
	HTTPAddr    string        // health endpoints; "none": off
	Schedule    cron.Schedule // nil: no schedule
	ScheduleRaw string
	DryRun      bool
	LogLevel    zerolog.Level
	StopTimeout time.Duration
	Validation  time.Duration
	Policy      *ooda.PolicyFile // nil: defaults
	PolicyPath  string
}

type setting struct {
	flag, env, def, help string
}

var settings = []setting{
	{"state", "OODA_STATE_DSN", "", "state backend: sqlite://DIR or sqlserver://user:password@host:port?database=NAME (default: sqlite:// in $STATE_DIRECTORY, else ./ooda-data)"},
	{"target", "OODA_TARGET_DSN", "", "target to optimise: sqlserver://… (default: the state database itself)"},
	{"nats", "OODA_NATS_URL", "", "NATS URL; empty starts an embedded server; none turns NATS off"},
	{"nats-listen", "OODA_NATS_LISTEN", "127.0.0.1:4222", "listen address of the embedded NATS server"},
	{"http", "OODA_HTTP_ADDR", "127.0.0.1:9464", "address of /healthz and /readyz; none turns HTTP off"},
	{"schedule", "OODA_SCHEDULE", "@hourly", "cron schedule of optimisation cycles (5 fields or @hourly, @daily, @every 30m); none turns it off"},
	{"dry-run", "OODA_DRY_RUN", "false", "decide but execute nothing; record what would have been done"},
	{"policy", "OODA_POLICY_FILE", "", "policy file (JSON: dry_run, approval_ttl, thresholds; see README); empty: the defaults"},
	{"log-level", "OODA_LOG_LEVEL", "info", "debug, info, warn or error"},
	{"stop-timeout", "OODA_STOP_TIMEOUT", "20s", "how long shutdown may take before giving up on in-flight work"},
	{"validation-window", "OODA_VALIDATION_WINDOW", "15m", "how long after an action the loop observes again to classify it (improved, neutral, regressed)"},
}

// settingValue is a setting's flag. A boolean setting may be given bare
// (--dry-run) as well as with a value (--dry-run=false); the value is
// checked with the others, so a bad one is named like any other setting.
type settingValue struct{ s string }

func (v *settingValue) String() string     { return v.s }
func (v *settingValue) Set(s string) error { v.s = s; return nil }
func (v *settingValue) IsBoolFlag() bool   { return true }

// settingError names the setting, the value and the rule.
func settingError(s setting, value, rule string) error {
	return usageError{fmt.Errorf("setting --%s (%s) = %q: %s", s.flag, s.env, value, rule)}
}

func parseConfig(args []string, getenv func(string) string, stderr io.Writer) (config, error) {
	fs := flag.NewFlagSet("oodad run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	vals := map[string]*string{}
	for _, s := range settings {
		def := s.def
		if v := getenv(s.env); v != "" {
			def = v
		}
		if s.def != "false" && s.def != "true" {
			vals[s.flag] = fs.String(s.flag, def, s.help+" [$"+s.env+"]")
			continue
		}
		v := &settingValue{s: def}
		fs.Var(v, s.flag, s.help+" [$"+s.env+"]")
		vals[s.flag] = &v.s
	}
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: oodad [run] [flags]\n\nRuns the OODA loop. Every flag has an environment variable; the flag wins.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return config{}, flagError(err)
	}
	if fs.NArg() > 0 {
		return config{}, usageError{fmt.Errorf("run: unexpected argument %q", fs.Arg(0))}
	}
	get := func(name string) (setting, string) {
		for _, s := range settings {
			if s.flag == name {
				return s, strings.TrimSpace(*vals[name])
			}
		}
		panic("unknown setting " + name)
	}
	var c config

	s, v := get("state")
	var err error
	if c.StateDir, c.StateDSN, err = parseState(v, getenv); err != nil {
		return c, settingError(s, redact(v), err.Error())
	}

	s, v = get("target")
	switch {
	case v == "":
	case strings.HasPrefix(v, "sqlserver://"):
		if err := checkSQLServerDSN(v); err != nil {
			return c, settingError(s, redact(v), err.Error())
		}
		c.TargetDSN = v
	default:
		return c, settingError(s, redact(v), "must be sqlserver://user:password@host:port?database=NAME, or empty for the state database itself")
	}

	s, v = get("nats")
	switch {
	case v == "" || v == "none":
		c.NATSURL = v
	default:
		u, err := url.Parse(v)
		if err != nil || (u.Scheme != "nats" && u.Scheme != "tls" && u.Scheme != "ws" && u.Scheme != "wss") || u.Host == "" {
			return c, settingError(s, redact(v), "must be a nats://host:port URL, empty for the embedded server, or none")
		}
		c.NATSURL = v
	}

	for _, name := range []string{"nats-listen", "http"} {
		s, v := get(name)
		if name == "http" && v == "none" {
			continue
		}
		if _, port, err := net.SplitHostPort(v); err != nil || port == "" {
			return c, settingError(s, v, "must be host:port, such as 127.0.0.1:4222")
		}
		if name == "http" {
			c.HTTPAddr = v
		} else {
			c.NATSListen = v
		}
	}

	s, v = get("schedule")
	c.ScheduleRaw = v
	if v != "none" && v != "" {
		sched, err := cron.ParseStandard(v)
		if err != nil {
			return c, settingError(s, v, "not a cron schedule ("+err.Error()+"); use 5 fields such as \"0 * * * *\", or @hourly, @daily, @every 30m, or none")
		}
		c.Schedule = sched
	}

	s, v = get("dry-run")
	b, err := strconv.ParseBool(v)
	if err != nil {
		return c, settingError(s, v, "must be true or false")
	}
	c.DryRun = b

	s, v = get("policy")
	if v != "" {
		f, err := os.Open(v)
		if err != nil {
			return c, settingError(s, v, "cannot read the policy file: "+err.Error())
		}
		p, err := ooda.LoadPolicy(f)
		f.Close()
		if err != nil {
			return c, settingError(s, v, err.Error())
		}
		c.Policy, c.PolicyPath = &p, v
	}

	s, v = get("log-level")
	switch v {
	case "debug", "info", "warn", "error":
		c.LogLevel, _ = zerolog.ParseLevel(v)
	default:
		return c, settingError(s, v, "must be debug, info, warn or error")
	}

	s, v = get("stop-timeout")
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return c, settingError(s, v, "must be a positive duration such as 20s")
	}
	c.StopTimeout = d

	s, v = get("validation-window")
	d, err = time.ParseDuration(v)
	if err != nil || d < time.Second || d > 7*24*time.Hour {
		return c, settingError(s, v, "must be a duration from 1s to 168h, such as 15m")
	}
	c.Validation = d
	return c, nil
}

// parseState reads the state setting: the SQLite directory, or a SQL Server
// DSN (and then the directory of local files such as the embedded NATS store).
func parseState(v string, getenv func(string) string) (dir, dsn string, err error) {
	dir = "ooda-data"
	if d := getenv("STATE_DIRECTORY"); d != "" {
		dir = strings.Split(d, ":")[0] // systemd may list several
	}
	switch {
	case v == "" || v == "sqlite://":
	case strings.HasPrefix(v, "sqlite://"):
		dir = strings.TrimPrefix(v, "sqlite://")
	case strings.HasPrefix(v, "sqlserver://"):
		if err := checkSQLServerDSN(v); err != nil {
			return "", "", err
		}
		dsn = v
	default:
		return "", "", fmt.Errorf("must be sqlite://DIR or sqlserver://user:password@host:port?database=NAME")
	}
	return filepath.Clean(dir), dsn, nil
}

// checkSQLServerDSN checks what can be checked before connecting: the URL
// form, a host, a database, and no "connection timeout", which go-mssqldb
// applies to every read and which would break any WAITFOR longer than it.
func checkSQLServerDSN(v string) error {
	u, err := url.Parse(v)
	switch {
	case err != nil:
		return fmt.Errorf("not a URL (check the escaping of special characters in the password: %% must be %%25)")
	case u.Host == "":
		return fmt.Errorf("names no host; use sqlserver://user:password@host:port?database=NAME")
	case !hasParam(u, "database"):
		return fmt.Errorf("names no database; add ?database=NAME (the daemon never works in master)")
	}
	if t := param(u, "connection timeout"); t != "" && t != "0" {
		return fmt.Errorf("connection timeout=%s would break every WAITFOR (RECEIVE) longer than it; leave it unset (0): the daemon bounds each call with its own deadline", t)
	}
	return nil
}

// param is a query parameter of a DSN; go-mssqldb reads their names without
// regard to case.
func param(u *url.URL, name string) string {
	for k, vs := range u.Query() {
		if strings.EqualFold(k, name) && len(vs) > 0 {
			return vs[0]
		}
	}
	return ""
}

func hasParam(u *url.URL, name string) bool { return param(u, name) != "" }

// redact hides the password of a URL-shaped setting.
func redact(v string) string {
	if strings.HasPrefix(v, "sqlserver://") {
		return servicebroker.RedactDSN(v) // also password= in the query
	}
	u, err := url.Parse(v)
	if err != nil {
		if strings.Contains(v, "@") {
			return "(not shown: not a URL)" // it may hold credentials
		}
		return v
	}
	if u.User == nil {
		return v
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}
