package broker

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf16"
)

// ErrorNamespace is the XML namespace of Error message bodies as SQL Server
// writes them.
const ErrorNamespace = "http://schemas.microsoft.com/SQL/ServiceBroker/Error"

// ErrorBody builds the body of an Error system message, in the shape SQL
// Server sends: <Error xmlns="…/ServiceBroker/Error"><Code>…</Code>
// <Description>…</Description></Error>, encoded as UTF-8.
func ErrorBody(code int, description string) []byte {
	var b bytes.Buffer
	b.WriteString(`<Error xmlns="` + ErrorNamespace + `"><Code>`)
	b.WriteString(strconv.Itoa(code))
	b.WriteString(`</Code><Description>`)
	_ = xml.EscapeText(&b, []byte(description))
	b.WriteString(`</Description></Error>`)
	return b.Bytes()
}

// ParseErrorBody reads the code and description of an Error system message.
// It accepts UTF-8 and UTF-16 (with or without a byte-order mark; SQL Server
// stores the body as nvarchar bytes), and matches elements by local name only:
// the documentation shows more than one namespace, and names the description
// element both "Description" and "Message".
func ParseErrorBody(body []byte) (code int, description string, err error) {
	text, err := decodeXMLText(body)
	if err != nil {
		return 0, "", fmt.Errorf("broker: error message body: %w", err)
	}
	dec := xml.NewDecoder(strings.NewReader(text))
	// The text is already UTF-8; ignore an encoding="utf-16" declaration.
	dec.CharsetReader = func(_ string, r io.Reader) (io.Reader, error) { return r, nil }
	var (
		stack   []string
		gotCode bool
		cdata   strings.Builder
	)
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return 0, "", fmt.Errorf("broker: error message body: %w", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			stack = append(stack, t.Name.Local)
			cdata.Reset()
		case xml.CharData:
			cdata.Write(t)
		case xml.EndElement:
			if len(stack) == 2 && stack[0] == "Error" {
				v := strings.TrimSpace(cdata.String())
				switch t.Name.Local {
				case "Code":
					c, err := strconv.Atoi(v)
					if err != nil {
						return 0, "", fmt.Errorf("broker: error message body: code %q is not a number", v)
					}
					code, gotCode = c, true
				case "Description", "Message":
					description = v
				}
			}
			if len(stack) > 0 {
				stack = stack[:len(stack)-1]
			}
			cdata.Reset()
		}
	}
	if !gotCode {
		return 0, "", errors.New("broker: error message body: no <Error><Code> element")
	}
	return code, description, nil
}

func decodeXMLText(b []byte) (string, error) {
	switch {
	case len(b) >= 3 && b[0] == 0xEF && b[1] == 0xBB && b[2] == 0xBF:
		return string(b[3:]), nil
	case len(b) >= 2 && b[0] == 0xFF && b[1] == 0xFE:
		return utf16Text(b[2:], false)
	case len(b) >= 2 && b[0] == 0xFE && b[1] == 0xFF:
		return utf16Text(b[2:], true)
	case len(b) >= 2 && b[0] == '<' && b[1] == 0: // UTF-16LE without a BOM
		return utf16Text(b, false)
	case len(b) >= 2 && b[0] == 0 && b[1] == '<':
		return utf16Text(b, true)
	}
	return string(b), nil
}

func utf16Text(b []byte, bigEndian bool) (string, error) {
	if len(b)%2 != 0 {
		return "", errors.New("odd number of bytes in UTF-16 text")
	}
	u := make([]uint16, len(b)/2)
	for i := range u {
		if bigEndian {
			u[i] = uint16(b[2*i])<<8 | uint16(b[2*i+1])
		} else {
			u[i] = uint16(b[2*i+1])<<8 | uint16(b[2*i])
		}
	}
	return string(utf16.Decode(u)), nil
}
