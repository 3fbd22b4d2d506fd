package events

import "testing"

func TestSubjectMatches(t *testing.T) {
	for _, tc := range []struct {
		filter, subject string
		want            bool
	}{
		{">", "keyledger.events.user.U.K.revoked", true},
		{"keyledger.events.user.*.*.revoked", "keyledger.events.user.U.K.revoked", true},
		{"keyledger.events.user.*.*.revoked", "keyledger.events.user.U.K.issued", false},
		{"keyledger.events.user.*.*.revoked", "keyledger.events.user.U.revoked", false},
		{"keyledger.events.user.U.>", "keyledger.events.user.U.K.revoked", true},
		{"keyledger.events.user.U.>", "keyledger.events.user.U", false},
		{"keyledger.events.user.U.>", "keyledger.events.user.V.K.revoked", false},
		{"keyledger.events.settings.changed", "keyledger.events.settings.changed", true},
		{"keyledger.events.settings.changed", "keyledger.events.settings.changed.x", false},
	} {
		if got := subjectMatches(tc.filter, tc.subject); got != tc.want {
			t.Errorf("subjectMatches(%q, %q) = %v, want %v", tc.filter, tc.subject, got, tc.want)
		}
	}
}
