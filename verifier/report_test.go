package verifier_test

import (
	"strings"
	"testing"
	"time"

	"github.com/keyledger/keyledger"
	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/verifier"
	"github.com/oklog/ulid/v2"
)

// TestUsageReportRoundTrip: what a gateway's index takes is what the
// server's index turns back into usage events, with the owner the server
// holds and the gateway's name as the instance, in reports of at most
// MaxReportKeys keys.
func TestUsageReportRoundTrip(t *testing.T) {
	gw, srv := newFixture(), newFixture()
	var ids []string
	for i := range verifier.MaxReportKeys + 3 {
		id, tok := gw.issue(nil)
		srv.x.Apply(events.Recorded{Seq: uint64(100 + i), Event: &events.KeyIssued{Meta: events.Meta{At: t0}, KeyID: id, Owner: "SERVER-OWNER", Name: "k"}})
		ids = append(ids, id)
		gw.x.Verify(tok, "", "::ffff:10.0.0.1")
		gw.x.Verify(tok, "missing", "10.0.0.2")
	}
	reps := verifier.Reports(t0, gw.x.TakeUsage(t0, ""))
	if len(reps) != 2 || len(reps[0].Keys) != verifier.MaxReportKeys || len(reps[1].Keys) != 3 {
		t.Fatalf("reports of %d keys: %d reports", len(ids), len(reps))
	}
	n := 0
	for _, rep := range reps {
		usage, unknown, err := srv.x.UsageOf(rep, "gateway:edge", t0.Add(30*time.Second))
		if err != nil || unknown != 0 {
			t.Fatalf("UsageOf: %v (%d unknown)", err, unknown)
		}
		for _, u := range usage {
			if u.Owner != "SERVER-OWNER" || u.Instance != "gateway:edge" || u.Valid != 1 || u.Denied[verifier.CodeMissingScope] != 1 ||
				u.Sources["10.0.0.1"] != 1 || u.Sources["10.0.0.2"] != 1 || u.LastUsedAt == nil || !u.Minute.Equal(t0) {
				t.Fatalf("usage event %+v", u)
			}
			n++
		}
	}
	if n != len(ids) {
		t.Fatalf("%d usage events for %d keys", n, len(ids))
	}
}

// TestUsageReportBounds: a report is refused whole when anything in it is
// more than a gateway could have seen; keys the server does not hold are
// left out and counted.
func TestUsageReportBounds(t *testing.T) {
	f := newFixture()
	id, _ := f.issue(nil)
	now := t0.Add(90 * time.Second)
	minute := t0.Add(time.Minute)
	future := now.Add(2 * time.Hour)
	ok := func() verifier.KeyUsage {
		return verifier.KeyUsage{KeyID: id, Valid: 3, Sources: map[string]uint64{"10.0.0.1": 2}}
	}
	with := func(mod func(*verifier.KeyUsage)) verifier.UsageReport {
		k := ok()
		mod(&k)
		return verifier.UsageReport{Minute: minute, Keys: []verifier.KeyUsage{k}}
	}
	many := verifier.UsageReport{Minute: minute}
	for range verifier.MaxReportKeys + 1 {
		many.Keys = append(many.Keys, verifier.KeyUsage{KeyID: ulid.Make().String(), Valid: 1})
	}
	manySources := map[string]uint64{}
	for i := range verifier.MaxSources + 1 {
		manySources["10.0.0."+string(rune('1'+i))] = 1
	}
	for name, rep := range map[string]verifier.UsageReport{
		"no minute":           {Keys: []verifier.KeyUsage{ok()}},
		"minute not whole":    {Minute: minute.Add(time.Second), Keys: []verifier.KeyUsage{ok()}},
		"minute in future":    {Minute: now.Add(5 * time.Minute).Truncate(time.Minute), Keys: []verifier.KeyUsage{ok()}},
		"minute too old":      {Minute: now.Add(-2 * time.Hour).Truncate(time.Minute), Keys: []verifier.KeyUsage{ok()}},
		"no keys":             {Minute: minute},
		"too many keys":       many,
		"wildcard key ID":     with(func(k *verifier.KeyUsage) { k.KeyID = "*" }),
		"lower-case key ID":   with(func(k *verifier.KeyUsage) { k.KeyID = strings.ToLower(id) }),
		"key twice":           {Minute: minute, Keys: []verifier.KeyUsage{ok(), ok()}},
		"nothing counted":     with(func(k *verifier.KeyUsage) { k.Valid, k.Sources = 0, nil }),
		"huge count":          with(func(k *verifier.KeyUsage) { k.Valid = 1 << 40 }),
		"unknown code":        with(func(k *verifier.KeyUsage) { k.Denied = map[string]uint64{"valid": 1} }),
		"zero denied":         with(func(k *verifier.KeyUsage) { k.Denied = map[string]uint64{verifier.CodeRevoked: 0} }),
		"not an address":      with(func(k *verifier.KeyUsage) { k.Sources = map[string]uint64{"example.com": 1} }),
		"zoned address":       with(func(k *verifier.KeyUsage) { k.Sources = map[string]uint64{"fe80::1%eth0": 1} }),
		"too many addresses":  with(func(k *verifier.KeyUsage) { k.Valid, k.Sources = 100, manySources }),
		"more sources than n": with(func(k *verifier.KeyUsage) { k.OtherSources = 5 }),
		"last use in future":  with(func(k *verifier.KeyUsage) { k.LastUsedAt = &future }),
		"last use before the minute": with(func(k *verifier.KeyUsage) {
			before := minute.Add(-30 * time.Minute)
			k.LastUsedAt = &before
		}),
		"unspecified address": with(func(k *verifier.KeyUsage) { k.Sources = map[string]uint64{"0.0.0.0": 1} }),
		// The key allows every address: no gateway refused it for one.
		"forbidden_ip for a key with no networks": with(func(k *verifier.KeyUsage) {
			k.Denied = map[string]uint64{verifier.CodeForbiddenIP: 5000}
		}),
		"last use, no valid": with(func(k *verifier.KeyUsage) {
			k.Valid, k.Denied, k.Sources, k.LastUsedAt = 0, map[string]uint64{"revoked": 1}, nil, &now
		}),
	} {
		if _, _, err := f.x.UsageOf(rep, "gateway:edge", now); keyledger.ErrorCode(err) != keyledger.EInvalid {
			t.Errorf("%s: %v, want invalid", name, err)
		}
	}
	limited, _ := f.issue(func(e *events.KeyIssued) { e.AllowedCIDRs = []string{"10.0.0.0/8"} })
	used := minute.Add(30 * time.Second)
	fine := verifier.UsageReport{Minute: minute, Keys: []verifier.KeyUsage{{KeyID: limited, Valid: 1, LastUsedAt: &used,
		Denied: map[string]uint64{verifier.CodeForbiddenIP: 3}, Sources: map[string]uint64{"192.0.2.1": 3, "10.0.0.1": 1}}}}
	if usage, _, err := f.x.UsageOf(fine, "gateway:edge", now); err != nil || len(usage) != 1 {
		t.Fatalf("refusals by address of a key limited to networks, last used within the minute: %v", err)
	}
	unknownKey := verifier.UsageReport{Minute: minute, Keys: []verifier.KeyUsage{ok(), {KeyID: ulid.Make().String(), Valid: 1}}}
	usage, unknown, err := f.x.UsageOf(unknownKey, "gateway:edge", now)
	if err != nil || len(usage) != 1 || unknown != 1 {
		t.Fatalf("a report naming a key the server does not hold: %d events, %d unknown, %v", len(usage), unknown, err)
	}
}
