package events_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/natstest"
	"github.com/nats-io/nats.go/jetstream"
)

func TestOpenRefusesAChangedStreamNamingEachField(t *testing.T) {
	_, js := natstest.Connect(t, natstest.RunServer(t))
	ctx := context.Background()
	s := openStore(t, js, 1, "KEYLEDGER")

	// Someone loosens the stream behind keyledger's back.
	cfg := s.Config()
	cfg.MaxMsgs, cfg.AllowAtomicPublish, cfg.Duplicates = 10, false, time.Second
	cfg.MaxAge = time.Hour
	cfg.RePublish = &jetstream.RePublish{Source: "keyledger.events.>", Destination: "spy.copy.>"} // a copy of every event, elsewhere
	cfg.Subjects = []string{"keyledger.events.>", "evil.>"}
	if _, err := js.UpdateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	again := events.NewStore(js)
	err := again.Open(ctx)
	var ce *events.ConfigError
	if !errors.As(err, &ce) {
		t.Fatalf("open of a changed stream: %v; want a *ConfigError", err)
	}
	got := map[string]events.ConfigDiff{}
	for _, d := range ce.Diffs {
		got[d.Field] = d
	}
	for field, want := range map[string][2]string{
		"duplicate_window": {"2m0s", "1s"},
		"max_msgs":         {"unlimited", "10"},
		"max_age":          {"0s", "1h0m0s"},
		"allow_atomic":     {"true", "false"},
		"subjects":         {"[keyledger.events.>]", "[keyledger.events.> evil.>]"},
	} {
		if d, ok := got[field]; !ok || d.Want != want[0] || d.Have != want[1] {
			t.Errorf("%s: diff %+v; want want=%s have=%s", field, d, want[0], want[1])
		}
		if !strings.Contains(err.Error(), field+": want "+want[0]+", have "+want[1]) {
			t.Errorf("message does not name %s: %v", field, err)
		}
	}
	if d, ok := got["republish"]; !ok || d.Want != "none" || !strings.Contains(d.Have, "spy.copy.>") {
		t.Errorf("republish: %+v", d)
	}
	if len(ce.Diffs) != 6 {
		t.Errorf("diffs %+v; want exactly the 6 changed fields", ce.Diffs)
	}

	// Restoring puts it back, reports what it changed, and Open is content.
	diffs, err := again.Restore(ctx)
	if err != nil || len(diffs) != 6 {
		t.Fatalf("restore: %v %+v", err, diffs)
	}
	if err := events.NewStore(js).Open(ctx); err != nil {
		t.Fatalf("open after restore: %v", err)
	}
	info, _ := js.Stream(ctx, "KEYLEDGER")
	if c := info.CachedInfo().Config; c.MaxAge != 0 || c.MaxMsgs != -1 || c.RePublish != nil || len(c.Subjects) != 1 {
		t.Fatalf("restored config %+v", c)
	}
}

func TestOpenUpgradesAStreamThatRepublishedByKeyToken(t *testing.T) {
	_, js := natstest.Connect(t, natstest.RunServer(t))
	ctx := context.Background()
	// The stream as an earlier keyledger created it: JetStream republished
	// keyledger.events.user.<user>.<key>.<action> on keyledger.notify.
	cfg := events.NewStore(js).Config()
	cfg.RePublish = &jetstream.RePublish{Source: "keyledger.events.user.*.*.*", Destination: "keyledger.notify.{{wildcard(3)}}.{{wildcard(2)}}"}
	if _, err := js.CreateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	if err := events.NewStore(js).Open(ctx); err != nil {
		t.Fatalf("open of an earlier keyledger's stream: %v", err)
	}
	st, _ := js.Stream(ctx, "KEYLEDGER")
	if r := st.CachedInfo().Config.RePublish; r != nil {
		t.Fatalf("republish left in place: %+v (every notification would be sent twice)", r)
	}
	// Any other republish is someone's change, and is refused.
	cfg.RePublish = &jetstream.RePublish{Source: "keyledger.events.user.*.*.*", Destination: "keyledger.notify.{{wildcard(2)}}.{{wildcard(3)}}"}
	if _, err := js.UpdateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	var ce *events.ConfigError
	if err := events.NewStore(js).Open(ctx); !errors.As(err, &ce) || len(ce.Diffs) != 1 || ce.Diffs[0].Field != "republish" {
		t.Fatalf("open with another republish: %v", err)
	}
}

func TestOpenRefusesAChangedUsageRetention(t *testing.T) {
	_, js := natstest.Connect(t, natstest.RunServer(t))
	ctx := context.Background()
	u := events.NewUsageStore(js)
	if err := u.Open(ctx); err != nil {
		t.Fatal(err)
	}
	// An operator who shortens retention by flag must say so: the same
	// check, with the new value wanted.
	u2 := events.NewUsageStore(js)
	u2.MaxAge = 24 * time.Hour
	var ce *events.ConfigError
	if err := u2.Open(ctx); !errors.As(err, &ce) || len(ce.Diffs) != 1 || ce.Diffs[0].Field != "max_age" {
		t.Fatalf("open with another retention: %v", err)
	}
	if _, err := u2.Restore(ctx); err != nil {
		t.Fatal(err)
	}
	if err := u2.Open(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestRestoreCannotUndoStorageAndSaysSo(t *testing.T) {
	_, js := natstest.Connect(t, natstest.RunServer(t))
	ctx := context.Background()
	cfg := events.NewStore(js).Config()
	cfg.Storage = jetstream.MemoryStorage // as if someone recreated it in memory
	if _, err := js.CreateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	s := events.NewStore(js)
	var ce *events.ConfigError
	if err := s.Open(ctx); !errors.As(err, &ce) || ce.Diffs[0].Field != "storage" {
		t.Fatalf("open of a memory stream: %v", err)
	}
	if _, err := s.Restore(ctx); err == nil || !strings.Contains(err.Error(), "storage: want File, have Memory") {
		t.Fatalf("restore of storage: %v; want a failure naming storage", err)
	}
}

func TestCheckHistoryRefusesAStreamBehindTheProjection(t *testing.T) {
	_, js := natstest.Connect(t, natstest.RunServer(t))
	ctx := context.Background()
	s := openStore(t, js, 1, "KEYLEDGER")
	for i := range 3 {
		if _, err := s.Append(ctx, events.OwnerSubjects("U"), uint64(i), "", []events.Event{revoked("U", "K")}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.CheckHistory(ctx, 3); err != nil {
		t.Fatalf("stream at the projection's position: %v", err)
	}
	err := s.CheckHistory(ctx, 7)
	if !errors.Is(err, events.ErrHistoryErased) || !strings.Contains(err.Error(), "ends at sequence 3") ||
		!strings.Contains(err.Error(), "applied up to 7") {
		t.Fatalf("stream behind the projection: %v", err)
	}
}

func TestOpenRefusesARecreatedStreamThatAllowsPurge(t *testing.T) {
	_, js := natstest.Connect(t, natstest.RunServer(t))
	ctx := context.Background()
	// JetStream will not lift deny_purge on a stream, but someone can
	// delete the stream and create it again without it.
	cfg := events.NewStore(js).Config()
	cfg.DenyPurge, cfg.DenyDelete = false, false
	if _, err := js.CreateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	s := events.NewStore(js)
	err := s.Open(ctx)
	if !strings.Contains(err.Error(), "deny_delete: want true, have false") || !strings.Contains(err.Error(), "deny_purge: want true, have false") {
		t.Fatalf("open of a purgeable stream: %v", err)
	}
	if _, err := s.Restore(ctx); err != nil {
		t.Fatalf("restore: %v", err)
	}
	if err := events.NewStore(js).Open(ctx); err != nil {
		t.Fatalf("open after restore: %v", err)
	}
}
