package projections_test

import (
	"context"
	"testing"
	"time"

	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/natstest"
	"github.com/keyledger/keyledger/projections"
	"github.com/oklog/ulid/v2"
)

// TestUsageHoursAreTheMinutesSummed: whatever minutes, instances and
// sources the usage stream holds, the per-hour tables the audit trace
// reads hold exactly the per-minute rows summed by hour.
func TestUsageHoursAreTheMinutesSummed(t *testing.T) {
	_, js := natstest.Connect(t, natstest.RunServer(t))
	ctx := context.Background()
	usage := events.NewUsageStore(js)
	if err := usage.Open(ctx); err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 23, 9, 58, 0, 0, time.UTC)
	keys := []string{ulid.Make().String(), ulid.Make().String()}
	var evs []events.Event
	var ids []string
	for i := range 200 {
		minute := t0.Add(time.Duration(i%7) * time.Minute) // 09:58 to 10:04, across the hour
		evs = append(evs, &events.UsageRecorded{Meta: events.Meta{At: minute, Actor: "system"}, KeyID: keys[i%2], Owner: "U",
			Minute: minute, Valid: uint64(i), Denied: map[string]uint64{"not_found": uint64(i % 3), "rate_limited": 1},
			Sources: map[string]uint64{"10.0.0.1": 2, "10.0.0." + string(rune('2'+i%5)): 1}, OtherSources: uint64(i % 2),
			Instance: "i" + string(rune('a'+i%3))})
		ids = append(ids, ulid.Make().String())
	}
	if err := usage.Publish(ctx, evs, ids); err != nil {
		t.Fatal(err)
	}
	db := MustOpenDB(t)
	p := projections.NewProjector(db, usage)
	p.Name = "usage"
	runProjector(t, p, uint64(len(evs)))
	sums := map[string][2]string{
		"counts": {`SELECT key_id, substr(minute, 1, 13) || ':00:00.000Z', SUM(valid), SUM(not_found), SUM(revoked), SUM(expired),
				SUM(forbidden_ip), SUM(missing_scope), SUM(rate_limited), SUM(disabled) FROM usage GROUP BY 1, 2`,
			`SELECT key_id, hour, valid, not_found, revoked, expired, forbidden_ip, missing_scope, rate_limited, disabled FROM usage_hours`},
		"sources": {`SELECT key_id, substr(minute, 1, 13) || ':00:00.000Z', ip, SUM(count) FROM usage_sources GROUP BY 1, 2, 3`,
			`SELECT key_id, hour, ip, count FROM usage_hour_sources`},
	}
	for name, q := range sums {
		for _, pair := range [][2]string{{q[0], q[1]}, {q[1], q[0]}} {
			var n int
			if err := db.SQL().QueryRow(`SELECT COUNT(*) FROM (` + pair[0] + ` EXCEPT ` + pair[1] + `)`).Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n != 0 {
				t.Errorf("%s: %d rows of %.40s… are not in %.40s…", name, n, pair[0], pair[1])
			}
		}
	}
	var hours int
	if err := db.SQL().QueryRow(`SELECT COUNT(*) FROM usage_hours`).Scan(&hours); err != nil || hours != 4 {
		t.Errorf("%d hour rows (%v), want 4: 2 keys, 2 hours", hours, err)
	}
}
