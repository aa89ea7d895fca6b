package servicebroker

import (
	"context"
	"strings"
	"testing"

	"github.com/hartonomous/ooda/broker/brokertest"
)

// TestOpenRefusesDSN: settings the transport cannot work with are refused
// before any connection, with an error that names the setting and never
// shows the password.
func TestOpenRefusesDSN(t *testing.T) {
	t.Parallel()
	const pw = "S3cr3t-pa55"
	for _, c := range []struct {
		name, dsn string
		mention   []string
	}{
		{"ConnectionTimeoutURL", "sqlserver://ooda:" + pw + "@db.example:1433?database=hart&connection+timeout=30", []string{`"connection timeout"`, "WAITFOR", "30s"}},
		{"TimeoutADO", "server=db.example;user id=ooda;password=" + pw + ";database=hart;timeout=5", []string{`"connection timeout"`, "5s"}},
		{"GuidConversion", "sqlserver://ooda:" + pw + "@db.example?guid+conversion=true", []string{`"guid conversion"`}},
		{"BadPortURL", "sqlserver://ooda:" + pw + "@db.example:14x33?database=hart", nil},
		{"BadValueADO", "server=db.example;user id=ooda;password=" + pw + ";port=abc", []string{"abc"}},
		{"BadValueEscapedPassword", "sqlserver://ooda:" + strings.ReplaceAll(pw, "-", "%2D") + "@db.example?packet+size=huge", []string{"huge"}},
		{"Empty", "", []string{"DSN is empty"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			_, err := Open(context.Background(), Options{DSN: c.dsn, Topology: brokertest.Topology()})
			if err == nil {
				t.Fatal("accepted")
			}
			msg := err.Error()
			if strings.Contains(msg, pw) || strings.Contains(msg, strings.ReplaceAll(pw, "-", "%2D")) {
				t.Fatalf("the error shows the password: %s", msg)
			}
			for _, m := range c.mention {
				if !strings.Contains(msg, m) {
					t.Errorf("error %q does not mention %q", msg, m)
				}
			}
		})
	}
}

func TestRedactDSN(t *testing.T) {
	t.Parallel()
	got := redactDSN("sqlserver://ooda:p%40ss@db.example:1433?database=hart")
	if strings.Contains(got, "p%40ss") || strings.Contains(got, "p@ss") || !strings.Contains(got, "ooda:xxxxx@db.example:1433") {
		t.Fatalf("redactDSN = %s", got)
	}
	if got := redactDSN("server=x;password=secret"); strings.Contains(got, "secret") || strings.Contains(got, "server=x") {
		t.Fatalf("key=value DSN shown: %s", got)
	}
	if got := scrub("login failed: secret and {secret}", "odbc:server=x;pwd={secret}"); strings.Contains(got, "secret") {
		t.Fatalf("scrub = %s", got)
	}
}

func TestOptionsValidate(t *testing.T) {
	t.Parallel()
	base := Options{DSN: "sqlserver://u:p@h", Topology: brokertest.Topology()}
	if o := base.withDefaults(); o.MaxBodyBytes != DefaultMaxBodyBytes || o.MaxOpenConns != DefaultMaxOpenConns || o.validate() != nil {
		t.Fatalf("defaults: %+v %v", o, o.validate())
	}
	for name, mod := range map[string]func(*Options){
		"MaxBodyBytes": func(o *Options) { o.MaxBodyBytes = -1 },
		"MaxOpenConns": func(o *Options) { o.MaxOpenConns = -1 },
		"Topology":     func(o *Options) { o.Topology.Queues = append(o.Topology.Queues, "") },
	} {
		o := base
		mod(&o)
		if err := o.withDefaults().validate(); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: %v", name, err)
		}
	}
}
