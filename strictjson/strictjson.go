// Package strictjson holds what keyledger adds to encoding/json to read a
// body one way only: encoding/json keeps the last of two members with the
// same name, where a proxy, a policy check or another verifier in front of
// keyledger may read the first. Commands, verifications and audit receipts
// that name a member twice are refused.
package strictjson

import (
	"bytes"
	"encoding/json"
	"strings"
)

// DuplicateField returns a member name that appears twice in one object
// of body, compared as encoding/json matches names to fields (ignoring
// case). encoding/json keeps the last; a proxy or policy check in front of
// keyledger may read the first, so such a body is refused rather than read
// two ways. body must be valid JSON (the caller has decoded it). Every
// command pays for this, so it scans bytes and allocates nothing; a body
// with an escape anywhere goes the slow way, since "n\u0061me" is "name".
func DuplicateField(body []byte) (string, bool) {
	if bytes.IndexByte(body, '\\') >= 0 {
		return duplicateFieldTokens(body)
	}
	var namesArr [32][]byte
	var opensArr [8]int
	names, opens := namesArr[:0], opensArr[:0] // opens: where each open object's names start
	for i := 0; i < len(body); i++ {
		switch body[i] {
		case '{':
			opens = append(opens, len(names))
		case '}':
			if len(opens) == 0 {
				return "", false // not valid JSON after all
			}
			names, opens = names[:opens[len(opens)-1]], opens[:len(opens)-1]
		case '"':
			n := bytes.IndexByte(body[i+1:], '"') // no escapes: the next quote ends it
			if n < 0 {
				return "", false
			}
			end := i + 1 + n
			str := body[i+1 : end]
			i = end
			j := end + 1
			for j < len(body) && (body[j] == ' ' || body[j] == '\t' || body[j] == '\n' || body[j] == '\r') {
				j++
			}
			if j == len(body) || body[j] != ':' || len(opens) == 0 {
				continue // a value, not a name
			}
			if len(names)-opens[len(opens)-1] >= maxScanned {
				// Comparing each name with all before it costs the square
				// of their number: 60,000 members in one object (a
				// gateway report's addresses) took seconds.
				return duplicateFieldTokens(body)
			}
			for _, seen := range names[opens[len(opens)-1]:] {
				if bytes.EqualFold(seen, str) {
					return string(str), true
				}
			}
			names = append(names, str)
		}
	}
	return "", false
}

// maxScanned is how many names of one object the byte scanner compares
// pairwise before it hands the body to duplicateFieldTokens, which keeps
// them in a map.
const maxScanned = 16

// foldKey is a name as encoding/json compares names, for a map: Unicode
// simple folding makes K, k and the Kelvin sign one, and s and ſ one.
func foldKey(name string) string { return strings.ToLower(strings.ToUpper(name)) }

// duplicateFieldTokens is DuplicateField by encoding/json's tokens, which
// unescape names, in time linear in the body.
func duplicateFieldTokens(body []byte) (string, bool) {
	type object struct {
		names   map[string]bool
		wantKey bool
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	var open []*object // nil for an array
	for {
		tok, err := dec.Token()
		if err != nil {
			return "", false
		}
		switch t := tok.(type) {
		case json.Delim:
			switch t {
			case '{':
				open = append(open, &object{names: map[string]bool{}, wantKey: true})
				continue
			case '[':
				open = append(open, nil)
				continue
			}
			open = open[:len(open)-1] // the closed one is a value of its parent
		case string:
			if len(open) == 0 {
				return "", false
			}
			if top := open[len(open)-1]; top != nil && top.wantKey {
				name := foldKey(t)
				if top.names[name] {
					return t, true
				}
				top.names[name], top.wantKey = true, false
				continue
			}
		}
		if len(open) == 0 {
			return "", false
		}
		if top := open[len(open)-1]; top != nil {
			top.wantKey = true
		}
	}
}
