package events

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

// decodeSlow is Decode without the fast path: the type and version read by
// a full pass over the body, as before peekHead.
func decodeSlow(data []byte) (Event, error) {
	var head struct {
		Type string `json:"type"`
		V    int    `json:"v"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return nil, err
	}
	return decodeAs(data, head.Type, head.V)
}

// FuzzDecodeFastPathAgrees: reading the type off the front never changes
// what Decode makes of a body, whatever the body says twice or hides.
func FuzzDecodeFastPathAgrees(f *testing.F) {
	m := Meta{At: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Actor: "A"}
	for _, e := range []Event{&KeyIssued{Meta: m, KeyID: "K", Owner: "U", Name: "n"}, &KeyRevoked{Meta: m, KeyID: "K", Owner: "U"}} {
		data, err := Encode(e)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, s := range []string{
		`{"type":"KeyRevoked","v":1,"type":"KeyIssued"}`, `{"type":"KeyIssued","v":1,"v":2}`,
		`{"type":"KeyIssued","v":1,"v":0}`, `{"type":"Key\u0049ssued","v":1}`, `{"type":"KeyIssued","v":01}`,
		`{"type":"KeyIssued","v":1.5}`, `{"type":"KeyIssued","v":1}`, `{"type":"KeyIssued","v":9}`,
		`{"type":"KeyIssued","v":1,"key_id":7}`, `{"type":"KeyIssued","v":1`, `{"type":"","v":1}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got, gotErr := Decode(data)
		want, wantErr := decodeSlow(data)
		if (gotErr == nil) != (wantErr == nil) {
			t.Fatalf("%q: Decode err %v, full read err %v", data, gotErr, wantErr)
		}
		if gotErr == nil && !reflect.DeepEqual(got, want) {
			t.Fatalf("%q: Decode read %#v, full read %#v", data, got, want)
		}
	})
}
