package strictjson

import (
	"encoding/json"
	"fmt"
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

// manyMembers is one object of n distinct names, and last appended.
func manyMembers(n int, last string) []byte {
	b := []byte(`{"sources":{`)
	for i := range n {
		b = fmt.Appendf(b, `"a%d":1,`, i)
	}
	return append(b, last+`}}`...)
}

// TestDuplicateFieldInALargeObject: past the names the byte scanner
// compares pairwise, duplicates are still found, in any case.
func TestDuplicateFieldInALargeObject(t *testing.T) {
	for last, want := range map[string]bool{`"a7":2`: true, `"A7":2`: true, `"b":2`: false, "\"\u212a\":1,\"k\":2": true} {
		if _, got := DuplicateField(manyMembers(1000, last)); got != want {
			t.Errorf("1,000 members then %s: duplicate %v, want %v", last, got, want)
		}
	}
}

// BenchmarkDuplicateFieldLargeObject: 60,000 members in one object (a
// gateway report's sources, under its 512 KiB cap) took 5.6 s to check
// when every name was compared with all before it.
func BenchmarkDuplicateFieldLargeObject(b *testing.B) {
	body := manyMembers(60000, `"b":1`)
	for b.Loop() {
		DuplicateField(body)
	}
}

// FuzzMiscasedFieldPrecheck: the byte precheck every command runs never
// lets a miscased name through that the token walk would find.
func FuzzMiscasedFieldPrecheck(f *testing.F) {
	for _, seed := range []string{`{"NAME":"a"}`, `{"name":"Prod"}`, `{"a":{"Limit":1}}`, `{"s":["Name"],"x":"y:"}`,
		"{\"\u212aey\":1}", `{"n\u0041me":1}`, ` { "Scopes" : [] } `} {
		f.Add([]byte(seed))
	}
	known := []string{"name", "limit", "scopes", "key"}
	f.Fuzz(func(t *testing.T, body []byte) {
		if !json.Valid(body) {
			return
		}
		g1, w1, ok1 := MiscasedField(body, known)
		g2, w2, ok2 := miscasedTokens(body, known)
		if ok1 != ok2 || g1 != g2 || w1 != w2 {
			t.Fatalf("%s: precheck says %v (%q→%q), tokens say %v (%q→%q)", body, ok1, g1, w1, ok2, g2, w2)
		}
	})
}
