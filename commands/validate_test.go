package commands_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/keyledger/keyledger"
	"github.com/keyledger/keyledger/commands"
	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/verifier"
)

// TestPolicyBounds: expiries are P1D..P365D or never, inactivity P1D..P3650D
// or none; a refusal is invalid (never internal) and names the bound.
func TestPolicyBounds(t *testing.T) {
	for _, tc := range []struct {
		name  string
		cmd   commands.SetSettings
		bound string // "" when accepted
	}{
		{"max_expiry_one_year", commands.SetSettings{MaxExpiry: ptr("P365D")}, ""},
		{"max_expiry_P1Y_is_a_year", commands.SetSettings{MaxExpiry: ptr("P1Y")}, ""},
		{"max_expiry_never", commands.SetSettings{MaxExpiry: ptr("never")}, ""},
		{"max_expiry_one_day", commands.SetSettings{MaxExpiry: ptr("P1D"), DefaultExpiry: ptr("P1D")}, ""},
		{"max_expiry_ten_years", commands.SetSettings{MaxExpiry: ptr("P10Y")}, "P365D"},
		{"max_expiry_366_days", commands.SetSettings{MaxExpiry: ptr("P366D")}, "P365D"},
		{"max_expiry_12_hours", commands.SetSettings{MaxExpiry: ptr("PT12H"), DefaultExpiry: ptr("PT12H")}, "P1D"},
		{"max_expiry_9999_years", commands.SetSettings{MaxExpiry: ptr("P9999Y")}, "P365D"},
		{"max_expiry_none_means_never", commands.SetSettings{MaxExpiry: ptr("none")}, ""},
		{"default_expiry_9999_years", commands.SetSettings{MaxExpiry: ptr("never"), DefaultExpiry: ptr("P9999Y")}, "P365D"},
		{"default_expiry_12_hours", commands.SetSettings{DefaultExpiry: ptr("PT12H")}, "P1D"},
		{"default_expiry_above_max", commands.SetSettings{MaxExpiry: ptr("P30D"), DefaultExpiry: ptr("P31D")}, "max_expiry"},
		{"inactivity_a_second", commands.SetSettings{InactivityExpiry: ptr("PT1S")}, "P1D"},
		{"inactivity_two_minutes", commands.SetSettings{InactivityExpiry: ptr("PT2M")}, "P1D"},
		{"inactivity_a_day", commands.SetSettings{InactivityExpiry: ptr("P1D")}, ""},
		{"inactivity_none", commands.SetSettings{InactivityExpiry: ptr("none")}, ""},
		{"inactivity_never_means_none", commands.SetSettings{InactivityExpiry: ptr("never")}, ""},
		{"inactivity_nevermore", commands.SetSettings{InactivityExpiry: ptr("nevermore")}, "none"},
		{"inactivity_9999_years", commands.SetSettings{InactivityExpiry: ptr("P9999Y")}, "P3650D"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cur := keyledger.DefaultSettings()
			cur.InactivityExpiry = "P7D"
			_, err := commands.DecideSettings(cur, admin, tc.cmd, now)
			if tc.bound == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			wantCode(t, err, keyledger.EInvalid)
			if !strings.Contains(err.Error(), tc.bound) {
				t.Fatalf("%v does not name %s", err, tc.bound)
			}
		})
	}
}

// TestNeverAndNoneAreOneWord: an admin who writes "none" for max_expiry,
// or "never" for inactivity_expiry, gets what they meant, stored in the
// field's own word.
func TestNeverAndNoneAreOneWord(t *testing.T) {
	evs, err := commands.DecideSettings(keyledger.DefaultSettings(), admin,
		commands.SetSettings{MaxExpiry: ptr("none"), DefaultExpiry: ptr("None"), InactivityExpiry: ptr("NEVER")}, now)
	if err != nil {
		t.Fatal(err)
	}
	got := evs[0].(*events.SettingsChanged).Settings
	if got.MaxExpiry != keyledger.Never || got.DefaultExpiry != keyledger.Never || got.InactivityExpiry != keyledger.None {
		t.Fatalf("stored %q %q %q", got.MaxExpiry, got.DefaultExpiry, got.InactivityExpiry)
	}
}

// TestOldOutOfBoundsPolicyDoesNotBlockOtherChanges: a max_expiry stored
// before the bounds existed still lets an admin disable keys.
func TestOldOutOfBoundsPolicyDoesNotBlockOtherChanges(t *testing.T) {
	cur := keyledger.DefaultSettings()
	cur.Enabled, cur.MaxExpiry = true, "P10Y"
	evs, err := commands.DecideSettings(cur, admin, commands.SetSettings{Enabled: ptr(false)}, now)
	if err != nil || len(evs) != 1 {
		t.Fatalf("%v %v", evs, err)
	}
}

// TestInvisibleCharactersRefused: bidi overrides, isolates, zero-width and
// other formatting characters would disguise names in tables.
func TestInvisibleCharactersRefused(t *testing.T) {
	for _, r := range []rune{0x202A, 0x202B, 0x202C, 0x202D, 0x202E, 0x2066, 0x2067, 0x2068, 0x2069,
		0x200B, 0x200C, 0x200D, 0x200E, 0x200F, 0xFEFF, 0x2060, 0x00AD, 0x2028, 0x2029, 0x061C} {
		bad := "admin" + string(r) + "key"
		t.Run(fmt.Sprintf("U+%04X", r), func(t *testing.T) {
			_, err := commands.DecideIssue(enabled(), owner(), dev, commands.IssueKey{Name: bad}, now)
			wantCode(t, err, keyledger.EInvalid)
			_, err = commands.DecideIssue(enabled(), owner(), dev, commands.IssueKey{Name: "ok", Description: bad}, now)
			wantCode(t, err, keyledger.EInvalid)
			_, err = commands.DecideUpdate(owner("ci"), dev, commands.UpdateKey{KeyID: "K0", Name: &bad}, now)
			wantCode(t, err, keyledger.EInvalid)
			_, err = commands.DecideRevoke(owner("ci"), dev, "K0", bad, now)
			wantCode(t, err, keyledger.EInvalid)
			_, err = commands.DecideRegister(commands.NewOwner("NEW"), admin, commands.RegisterUser{UserID: "NEW", Name: bad}, now)
			wantCode(t, err, keyledger.EInvalid)
		})
	}
	for _, good := range []string{"Zoë's key", "日本のキー", "ключ", "deploy 🚀", "a-b_c.d"} {
		if _, err := commands.DecideIssue(enabled(), owner(), dev, commands.IssueKey{Name: good}, now); err != nil {
			t.Errorf("%q refused: %v", good, err)
		}
	}
}

func TestCIDRs(t *testing.T) {
	for _, tc := range []struct {
		in, want string // want "" for refused
	}{
		{"fe80::1%eth0", ""},
		{"fe80::1%25eth0", ""},
		{"fe80::1%eth0/64", ""},
		{"10.1.2.3/8", "10.0.0.0/8"},
		{"fe80::1", "fe80::1/128"},
		{"10.0.0.0/33", ""},
		{"*", ""},
	} {
		evs, err := commands.DecideIssue(enabled(), owner(), dev, commands.IssueKey{Name: "ci", AllowedCIDRs: []string{tc.in}}, now)
		if tc.want == "" {
			if keyledger.ErrorCode(err) != keyledger.EInvalid {
				t.Errorf("%q: %v %v, want invalid", tc.in, evs, err)
			}
			continue
		}
		if err != nil || evs[0].(*events.KeyIssued).AllowedCIDRs[0] != tc.want {
			t.Errorf("%q: %v %v, want %s", tc.in, evs, err, tc.want)
		}
	}
}

// TestBodyErrorsSpeakJSON: a malformed body is invalid with a message in
// the client's terms (JSON kinds), never a Go type name.
func TestBodyErrorsSpeakJSON(t *testing.T) {
	for body, want := range map[string]string{
		`[]`:                          "body: expected a JSON object, got JSON array",
		`"x"`:                         "body: expected a JSON object, got JSON string",
		`{"name":7}`:                  "name: expected a string, got JSON number",
		`{"scopes":"read"}`:           "scopes: expected an array, got JSON string",
		`{"name":"a"`:                 "the body ends before the object does",
		`{"name":"a"} {}`:             "data after the object",
		`{"rate_limit":[1]}`:          "rate_limit: expected an object, got JSON array",
		`{"name":"a","nmae":"b"}`:     `unknown field "nmae"`,
		`{"descriptio":"x"}`:          `unknown field "descriptio" (did you mean "description"?)`,
		`{"rate_limit":{"limits":1}}`: `unknown field "limits" (did you mean "limit"?)`,
		`{"expires_at":"2026-12-01"}`: `"2026-12-01" is not an RFC 3339 time such as 2027-01-31T00:00:00Z`,
	} {
		var c commands.IssueKey
		err := commands.Decode([]byte(body), &c)
		if keyledger.ErrorCode(err) != keyledger.EInvalid || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "commands.") {
			t.Errorf("%s: %v, want invalid saying %q", body, err, want)
		}
	}
}

// TestDuplicateFieldsRefused: a body naming a field twice in one object
// (in any case, as encoding/json matches names) is invalid, whichever
// object it is in; the same name in different objects is not a duplicate.
func TestDuplicateFieldsRefused(t *testing.T) {
	for _, body := range []string{
		`{"name":"a","name":"b"}`,
		`{"scopes":["read"],"owner":"","scopes":["admin"]}`,
		`{"name":"a","NAME":"b"}`,
		`{"name":"a","rate_limit":{"limit":1,"limit":2}}`,
		`{"name":"a","scopes":[],"description":"d","allowed_cidrs":[],"description":"e"}`,
		`{"n\u0061me":"a","name":"b"}`, // the same name, escaped
		`{"description":"x\"y","name":"a","Name":"b"}`,
		` { "name" : "a" , "name" : "b" } `,
	} {
		var c commands.IssueKey
		err := commands.Decode([]byte(body), &c)
		if keyledger.ErrorCode(err) != keyledger.EInvalid || !strings.Contains(err.Error(), "appears twice") {
			t.Errorf("%s: %v, want invalid naming the duplicate", body, err)
		}
	}
	for _, body := range []string{
		`{"name":"limit","rate_limit":{"limit":1,"per":"1m"},"description":"name"}`,
		`{"scopes":["name","name"],"name":"a"}`,
		`{"name":"name:","description":"\"name\":"}`,
		`{}`, ``,
	} {
		var c commands.IssueKey
		if err := commands.Decode([]byte(body), &c); err != nil {
			t.Errorf("%s: %v", body, err)
		}
	}
}

// TestNamesAreCaseSensitive: encoding/json reads "NAME" (or a Kelvin sign
// for k) as name; a proxy or policy check in front that matches names
// exactly would not, so such a body is invalid and names the field meant.
// Map keys (a gateway report's addresses) are data, not names.
func TestNamesAreCaseSensitive(t *testing.T) {
	for body, want := range map[string]string{
		`{"NAME":"a"}`:                                   `field "NAME": names are case-sensitive (did you mean "name"?)`,
		`{"name":"a","rate_limit":{"Limit":1}}`:          `(did you mean "limit"?)`,
		"{\"name\":\"a\",\"\u017fcopes\":[]}":            `(did you mean "scopes"?)`, // a long s
		"{\"name\":\"a\",\"owner\":\"\",\"Owner\":\"\"}": "appears twice",
		`{"n\u0041me":"a"}`:                              `(did you mean "name"?)`,
	} {
		var c commands.IssueKey
		err := commands.Decode([]byte(body), &c)
		if keyledger.ErrorCode(err) != keyledger.EInvalid || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want invalid saying %q", body, err, want)
		}
	}
	for _, body := range []string{
		`{"name":"NAME","description":"Owner Scopes"}`,
		`{"n\u0061me":"a"}`,
	} {
		var c commands.IssueKey
		if err := commands.Decode([]byte(body), &c); err != nil {
			t.Errorf("%s: %v", body, err)
		}
	}
	var rep verifier.UsageReport
	body := `{"minute":"2026-12-07T10:00:00Z","keys":[{"key_id":"01J00000000000000000000000","valid":1,"sources":{"2001:DB8::1":1}}]}`
	if err := commands.Decode([]byte(body), &rep); err != nil {
		t.Errorf("a report with an upper-case IPv6 address: %v", err)
	}
}

// TestUnknownFieldSuggestsTheNearOne: a field one typo from a real one is
// named with it (a revoke with "key_id" means "key_ids"); a name far from
// every field gets no guess.
func TestUnknownFieldSuggestsTheNearOne(t *testing.T) {
	var r commands.RevokeKeys
	err := commands.Decode([]byte(`{"key_id":"01J00000000000000000000000"}`), &r)
	if keyledger.ErrorCode(err) != keyledger.EInvalid || !strings.Contains(err.Error(), `did you mean "key_ids"?`) {
		t.Errorf("key_id: %v", err)
	}
	err = commands.Decode([]byte(`{"color":"red"}`), &r)
	if keyledger.ErrorCode(err) != keyledger.EInvalid || strings.Contains(err.Error(), "did you mean") {
		t.Errorf("color: %v", err)
	}
}

// TestLostCharactersAndRepeatedScopesRefused: encoding/json reads a byte
// that is not UTF-8, or a lone surrogate escape, as U+FFFD, and would
// store a name other than the one sent; a scope named twice is a typo.
// Each is invalid, names what is wrong, and stores nothing.
func TestLostCharactersAndRepeatedScopesRefused(t *testing.T) {
	l := newLedger(t)
	_, devToken := l.developer(t, "dev")
	before := l.lastSeq(t)
	for body, want := range map[string]string{
		"{\"name\":\"a\xffb\"}":                         "body: not valid UTF-8 (at byte 10)",
		`{"name":"a\ud800b"}`:                           "name holds U+FFFD",
		`{"name":"k","description":"\udfff"}`:           "description holds U+FFFD",
		`{"name":"k","scopes":["read","write","read"]}`: `scopes: "read" is named twice`,
	} {
		_, err := l.svc.Call(context.Background(), endpointNamed(t, "cmd.key.issue"), "Bearer "+devToken, "", []byte(body))
		if keyledger.ErrorCode(err) != keyledger.EInvalid || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v; want invalid saying %q", body, err, want)
		}
	}
	if got := l.changesSince(t, before); len(got) != 0 {
		t.Fatalf("stored %v", got)
	}
}
