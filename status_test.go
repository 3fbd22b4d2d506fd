package keyledger_test

import (
	"testing"
	"time"

	"github.com/keyledger/keyledger"
)

func TestKeyClockStatusAt(t *testing.T) {
	t0 := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	at := func(d time.Duration) *time.Time { v := t0.Add(d); return &v }
	hour := keyledger.ExpiryPolicy{Inactivity: 3600}
	for _, tc := range []struct {
		name   string
		clock  keyledger.KeyClock
		policy keyledger.ExpiryPolicy
		now    time.Duration
		status string
		reason string
		end    *time.Time
	}{
		{"no_expiry_no_policy_stays_active", keyledger.NewKeyClock("active", nil, t0, nil, nil), keyledger.ExpiryPolicy{}, 1000 * time.Hour, "active", "", nil},
		{"expiry_ends_at_the_second", keyledger.NewKeyClock("active", at(time.Hour), t0, nil, nil), keyledger.ExpiryPolicy{}, time.Hour, "expired", "ttl", at(time.Hour)},
		{"one_second_before_expiry", keyledger.NewKeyClock("active", at(time.Hour), t0, nil, nil), keyledger.ExpiryPolicy{}, time.Hour - time.Second, "active", "", at(time.Hour)},
		{"unused_since_issue", keyledger.NewKeyClock("active", nil, t0, nil, nil), hour, time.Hour, "expired", "inactivity", at(time.Hour)},
		{"use_moves_the_clock", keyledger.NewKeyClock("active", nil, t0, nil, at(30*time.Minute)), hour, time.Hour, "active", "", at(90 * time.Minute)},
		{"regenerate_restarts_the_clock", keyledger.NewKeyClock("active", nil, t0, at(50*time.Minute), nil), hour, 70 * time.Minute, "active", "", at(110 * time.Minute)},
		{"regenerate_then_idle", keyledger.NewKeyClock("active", nil, t0, at(50*time.Minute), nil), hour, 110 * time.Minute, "expired", "inactivity", at(110 * time.Minute)},
		{"own_expiry_before_idle_limit", keyledger.NewKeyClock("active", at(10*time.Minute), t0, nil, nil), hour, 10 * time.Minute, "expired", "ttl", at(10 * time.Minute)},
		{"revoked_stays_revoked", keyledger.NewKeyClock("revoked", at(time.Hour), t0, nil, nil), hour, 2 * time.Hour, "revoked", "", at(time.Hour)},
		{"recorded_expiry_stays", keyledger.NewKeyClock("expired", nil, t0, nil, nil), keyledger.ExpiryPolicy{}, 0, "expired", "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, end := tc.clock.StatusAt(t0.Add(tc.now), tc.policy)
			_, reason := tc.clock.StatusAtUnix(t0.Add(tc.now).Unix(), tc.policy)
			if status != tc.status || reason != tc.reason {
				t.Errorf("status %s (%s), want %s (%s)", status, reason, tc.status, tc.reason)
			}
			if (end == nil) != (tc.end == nil) || (end != nil && !end.Equal(*tc.end)) {
				t.Errorf("effective expiry %v, want %v", end, tc.end)
			}
		})
	}
}

func TestPolicyOf(t *testing.T) {
	for in, want := range map[string]int64{"none": 0, "PT2M": 120, "P1D": 86400, "P1M": 31 * 86400, "junk": 0,
		"P100Y": 36524 * 86400, "P999999Y": 0} {
		s := keyledger.DefaultSettings()
		s.InactivityExpiry = in
		if got := keyledger.PolicyOf(s).Inactivity; got != want {
			t.Errorf("%s: %d seconds, want %d", in, got, want)
		}
	}
}
