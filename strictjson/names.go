package strictjson

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"sync"
)

// MiscasedField returns a member name of body that encoding/json reads as
// one of known although it is spelled otherwise ("KEY" for key, a Kelvin
// sign for k, "n\u0041me" for name), and the name it stands for.
// encoding/json matches names ignoring case; a proxy, cache key or policy
// check in front of keyledger that matches them exactly would read such a
// body differently, so it is refused. Names matching none of known (a
// map's keys) are not its business. body must be valid JSON.
func MiscasedField(body []byte, known []string) (got, want string, ok bool) {
	if !mayFold(body) {
		return "", "", false // only upper case, non-ASCII or an escape can fold
	}
	return miscasedTokens(body, known)
}

// miscasedTokens is MiscasedField by encoding/json's tokens, which unescape
// names.
func miscasedTokens(body []byte, known []string) (got, want string, ok bool) {
	dec := json.NewDecoder(bytes.NewReader(body))
	var wantKey []bool // per open container: an object expecting a name next
	for {
		tok, err := dec.Token()
		if err != nil {
			return "", "", false
		}
		switch t := tok.(type) {
		case json.Delim:
			switch t {
			case '{', '[':
				wantKey = append(wantKey, t == '{')
				continue
			}
			wantKey = wantKey[:len(wantKey)-1]
		case string:
			if n := len(wantKey); n > 0 && wantKey[n-1] {
				wantKey[n-1] = false
				if name, bad := miscased(t, known); bad {
					return t, name, true
				}
				continue
			}
		}
		if n := len(wantKey); n > 0 {
			wantKey[n-1] = true // a value ended: in an object, a name is next
		}
	}
}

// mayFold reports whether a member name of body could fold to another:
// one with an upper-case ASCII letter or a non-ASCII byte, or any escape
// in the body. Only names are looked at, so a command whose values are
// "Prod CI" costs one pass over its bytes, not a token decode.
func mayFold(body []byte) bool {
	if bytes.IndexByte(body, '\\') >= 0 {
		return true
	}
	for i := 0; i < len(body); i++ {
		if body[i] != '"' {
			continue
		}
		n := bytes.IndexByte(body[i+1:], '"') // no escapes: the next quote ends it
		if n < 0 {
			return false
		}
		str, end := body[i+1:i+1+n], i+1+n
		i = end
		j := end + 1
		for j < len(body) && (body[j] == ' ' || body[j] == '\t' || body[j] == '\n' || body[j] == '\r') {
			j++
		}
		if j == len(body) || body[j] != ':' {
			continue // a value, not a name
		}
		for _, c := range str {
			if 'A' <= c && c <= 'Z' || c >= 0x80 {
				return true
			}
		}
	}
	return false
}

// miscased returns the name of known that name folds to but does not equal.
func miscased(name string, known []string) (string, bool) {
	for _, k := range known {
		if k == name {
			return "", false
		}
	}
	for _, k := range known {
		if strings.EqualFold(k, name) {
			return k, true
		}
	}
	return "", false
}

var namesOf sync.Map // reflect.Type → []string

// FieldNames lists the JSON member names of v's type and of every struct
// within it (through pointers, slices and maps), for MiscasedField.
func FieldNames(v any) []string {
	t := reflect.TypeOf(v)
	if names, ok := namesOf.Load(t); ok {
		return names.([]string)
	}
	var names []string
	seen := map[reflect.Type]bool{}
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		for t != nil && (t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Array || t.Kind() == reflect.Map) {
			t = t.Elem()
		}
		if t == nil || t.Kind() != reflect.Struct || seen[t] {
			return
		}
		seen[t] = true
		for i := range t.NumField() {
			f := t.Field(i)
			tag, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if tag == "-" || !f.IsExported() {
				continue
			}
			if f.Anonymous && tag == "" {
				walk(f.Type) // an embedded struct's fields are the outer's
				continue
			}
			if tag == "" {
				tag = f.Name
			}
			names = append(names, tag)
			walk(f.Type)
		}
	}
	walk(t)
	namesOf.Store(t, names)
	return names
}
