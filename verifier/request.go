package verifier

import (
	"bytes"
	"encoding/json"

	"github.com/keyledger/keyledger"
	"github.com/keyledger/keyledger/strictjson"
)

// Request is the body of a verification: {"key","scope"?,"ip"?}.
type Request struct {
	Key   string `json:"key"`
	Scope string `json:"scope"`
	IP    string `json:"ip"`
}

// MaxRequest bounds a verification body; a token is 79 bytes.
const MaxRequest = 4 << 10

// DecodeRequest reads a verification body strictly: unknown fields, a
// field named twice, and anything but one object are invalid (a cache or
// proxy in front may read the first "key", encoding/json keeps the last). The common shape (string values,
// no escapes) is parsed directly; anything else goes through encoding/json,
// which also words the errors.
func DecodeRequest(body []byte) (Request, error) {
	if req, ok := parseFlat(body); ok {
		return req, nil
	}
	var req Request
	if i := skipSpace(body, 0); i < len(body) && body[i] != '{' {
		// encoding/json takes null for a struct and leaves it empty.
		return req, keyledger.Errorf(keyledger.EInvalid, "body must be one JSON object {\"key\",\"scope\"?,\"ip\"?}")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return req, keyledger.Errorf(keyledger.EInvalid, "body must be {\"key\",\"scope\"?,\"ip\"?}: %v", err)
	}
	if dec.More() {
		return req, keyledger.Errorf(keyledger.EInvalid, "body must be one JSON object")
	}
	if name, ok := strictjson.DuplicateField(body); ok {
		return Request{}, keyledger.Errorf(keyledger.EInvalid, "field %s appears twice", keyledger.Quote(name))
	}
	if got, want, ok := strictjson.MiscasedField(body, strictjson.FieldNames(req)); ok {
		return Request{}, keyledger.Errorf(keyledger.EInvalid, "field %s: names are case-sensitive (did you mean %q?)", keyledger.Quote(got), want)
	}
	return req, nil
}

// parseFlat parses {"key":"…","scope":"…","ip":"…"} (any order, any
// subset, JSON white space) whose strings hold no escapes, each name once.
// ok is false for anything else, which the caller hands to encoding/json.
func parseFlat(b []byte) (req Request, ok bool) {
	var seen [3]bool
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return req, false
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return req, skipSpace(b, i+1) == len(b)
	}
	for {
		var name, value []byte
		if name, i, ok = flatString(b, i); !ok {
			return req, false
		}
		if i = skipSpace(b, i); i >= len(b) || b[i] != ':' {
			return req, false
		}
		if value, i, ok = flatString(b, skipSpace(b, i+1)); !ok {
			return req, false
		}
		var field int
		switch string(name) {
		case "key":
			req.Key = string(value)
		case "scope":
			field, req.Scope = 1, string(value)
		case "ip":
			field, req.IP = 2, string(value)
		default:
			return req, false
		}
		if seen[field] {
			return req, false
		}
		seen[field] = true
		if i = skipSpace(b, i); i < len(b) && b[i] == ',' {
			i = skipSpace(b, i+1)
			continue
		}
		return req, i < len(b) && b[i] == '}' && skipSpace(b, i+1) == len(b)
	}
}

// flatString reads a JSON string without escapes or control characters at i.
func flatString(b []byte, i int) ([]byte, int, bool) {
	if i >= len(b) || b[i] != '"' {
		return nil, i, false
	}
	for j := i + 1; j < len(b); j++ {
		switch c := b[j]; {
		case c == '"':
			return b[i+1 : j], j + 1, true
		case c == '\\' || c < 0x20:
			return nil, i, false
		}
	}
	return nil, i, false
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}
