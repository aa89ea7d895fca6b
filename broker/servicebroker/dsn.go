package servicebroker

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/microsoft/go-mssqldb/msdsn"
)

// checkDSN parses dsn as go-mssqldb does and refuses the settings the
// transport cannot work with. Its errors never contain the password.
func checkDSN(dsn string) error {
	if dsn == "" {
		return errors.New("servicebroker: Options.DSN is empty (want sqlserver://user:password@host:1433?database=name)")
	}
	p, err := msdsn.Parse(dsn)
	if err != nil {
		return redact(fmt.Errorf("servicebroker: parse DSN %s: %w", redactDSN(dsn), err), dsn)
	}
	// go-mssqldb applies "connection timeout" as a deadline on every read of
	// the connection (msdsn: "Do not set a connection timeout. Use Context to
	// manage such things"): a WAITFOR (RECEIVE ...) longer than it breaks the
	// connection mid-wait.
	if p.ConnTimeout != 0 {
		return fmt.Errorf("servicebroker: DSN %s sets \"connection timeout\" (or \"timeout\") to %s: go-mssqldb turns it into a deadline on every read, which breaks any WAITFOR (RECEIVE) longer than that; remove the setting (calls are bounded by their contexts)", redactDSN(dsn), p.ConnTimeout)
	}
	// Handles are scanned into mssql.UniqueIdentifier and passed back as
	// such; "guid conversion" changes how the driver hands them over.
	if p.Encoding.GuidConversion {
		return fmt.Errorf("servicebroker: DSN %s sets \"guid conversion\": remove it; conversation handles must keep the driver's default byte order", redactDSN(dsn))
	}
	return nil
}

// secrets returns the password-like values in dsn, in URL form
// (sqlserver://user:password@host) and in key=value form (password=…;
// pwd=…), raw and escaped, so that they can be scrubbed from messages.
func secrets(dsn string) []string {
	var out []string
	add := func(s string) {
		if s == "" {
			return
		}
		out = append(out, s)
		if e := url.QueryEscape(s); e != s {
			out = append(out, e)
		}
		if e := url.PathEscape(s); e != s {
			out = append(out, e)
		}
	}
	if u, err := url.Parse(dsn); err == nil && u.User != nil {
		if pw, ok := u.User.Password(); ok {
			add(pw)
		}
	} else if i := strings.Index(dsn, "://"); i >= 0 {
		// An unparsable URL: take user:password@ by hand.
		rest := dsn[i+3:]
		if at := strings.LastIndex(rest, "@"); at >= 0 {
			if _, pw, ok := strings.Cut(rest[:at], ":"); ok {
				add(pw)
				if dec, err := url.PathUnescape(pw); err == nil {
					add(dec)
				}
			}
		}
	}
	for _, part := range strings.Split(strings.TrimPrefix(dsn, "odbc:"), ";") {
		k, v, ok := strings.Cut(part, "=")
		if !ok {
			continue
		}
		switch strings.ToLower(strings.TrimSpace(k)) {
		case "password", "pwd":
			v = strings.TrimSpace(v)
			add(v)
			add(strings.Trim(v, "{}\"'"))
		}
	}
	// The query string of a URL DSN may carry a password too.
	if u, err := url.Parse(dsn); err == nil {
		for k, vs := range u.Query() {
			if strings.EqualFold(k, "password") || strings.EqualFold(k, "pwd") {
				for _, v := range vs {
					add(v)
				}
			}
		}
	}
	return out
}

// scrub replaces every secret of dsn in msg.
func scrub(msg, dsn string) string {
	for _, s := range secrets(dsn) {
		msg = strings.ReplaceAll(msg, s, "xxxxx")
	}
	return msg
}

// redactDSN returns dsn with its password replaced, for messages; an
// unparsable DSN is not shown at all.
func redactDSN(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return "(not shown: not a URL)"
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return scrub(u.String(), dsn)
}

// redactedError shows err's message with the DSN's secrets replaced and
// keeps err in the chain for errors.Is and errors.As.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

func redact(err error, dsn string) error {
	return &redactedError{msg: scrub(err.Error(), dsn), err: err}
}

// RedactDSN returns dsn fit for a log line or an error: the password is
// replaced, in the user part and in a password= or pwd= parameter, and a
// DSN that does not parse is not shown at all.
func RedactDSN(dsn string) string { return redactDSN(dsn) }

// RedactError returns err with every secret of dsn replaced in its
// message; errors.Is and errors.As still see err. nil stays nil.
func RedactError(err error, dsn string) error {
	if err == nil {
		return nil
	}
	return redact(err, dsn)
}
