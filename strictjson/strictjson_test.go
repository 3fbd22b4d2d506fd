package strictjson

import (
	"encoding/json"
	"testing"
)

// FuzzDuplicateFieldScanners: the byte scanner every command runs and the
// encoding/json token walk agree on any valid body without escapes.
func FuzzDuplicateFieldScanners(f *testing.F) {
	for _, seed := range []string{
		`{"name":"a","name":"b"}`, `{"a":{"b":1,"B":2}}`, `{"a":[{"x":1},{"x":2}],"b":"x:"}`,
		`{"s":["a","a"],"t":{"u":{"v":1}},"T":0}`, ` { "k" : [ "k" , { "k" : 1 } ] } `, `[]`, `"x"`, `{}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if !json.Valid(body) {
			return
		}
		for _, c := range body {
			if c == '\\' {
				return
			}
		}
		fn, fd := DuplicateField(body)
		sn, sd := duplicateFieldTokens(body)
		if fd != sd {
			t.Fatalf("%s: scanner says %v (%q), tokens say %v (%q)", body, fd, fn, sd, sn)
		}
	})
}
