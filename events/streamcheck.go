package events

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// ConfigDiff is one setting in which a stream differs from the
// configuration keyledger requires.
type ConfigDiff struct {
	Field string // as in the stream's JSON configuration: "deny_purge"
	Want  string
	Have  string
}

// ConfigError is Open's answer when someone changed a stream: keyledger
// refuses to run on it unless told to restore it (Store.Restore).
type ConfigError struct {
	Stream string
	Diffs  []ConfigDiff
}

// Error names every differing field, with what keyledger wants and has.
func (e *ConfigError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "stream %s was changed and differs from what keyledger requires:", e.Stream)
	for _, d := range e.Diffs {
		fmt.Fprintf(&b, " %s: want %s, have %s;", d.Field, d.Want, d.Have)
	}
	b.WriteString(" restore it with `keyledger serve --restore-stream-config` (logged), or find out who changed it")
	return b.String()
}

// ErrHistoryErased means the stream holds less than the projections have
// applied: events were deleted, or the stream was replaced.
var ErrHistoryErased = errors.New("events: the stream holds less history than the projections applied")

// open binds the stream and checks its configuration, creating it when it
// does not exist (the first start of an empty system).
func (s *Store) open(ctx context.Context) error {
	st, err := s.JS.Stream(ctx, s.Stream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		st, err = s.JS.CreateStream(ctx, s.Config())
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) { // another instance was first
			st, err = s.JS.Stream(ctx, s.Stream)
		}
	}
	if err != nil {
		return fmt.Errorf("open stream %s: %w", s.Stream, err)
	}
	s.stream = st
	have := st.CachedInfo().Config
	if legacyRepublish(have.RePublish) {
		// Created by an earlier keyledger, which had JetStream announce what
		// the store now announces itself: an upgrade, not a change.
		have.RePublish = nil
		if DiffConfig(s.Config(), have) == nil {
			if st, err = s.JS.UpdateStream(ctx, s.Config()); err != nil {
				return fmt.Errorf("upgrade stream %s: %w", s.Stream, err)
			}
			s.stream = st
			have = st.CachedInfo().Config
		}
	}
	if diffs := DiffConfig(s.Config(), have); len(diffs) > 0 {
		return &ConfigError{Stream: s.Stream, Diffs: diffs}
	}
	return nil
}

// legacyRepublish reports whether r is the republish earlier keyledgers
// configured, when the key ID was a token of the stored subject.
func legacyRepublish(r *jetstream.RePublish) bool {
	return r != nil && !r.HeadersOnly && r.Source == SubjectPrefix+"user.*.*.*" &&
		r.Destination == "keyledger.notify.{{wildcard(3)}}.{{wildcard(2)}}"
}

// Restore updates the stream back to the configuration keyledger requires
// and returns what it changed. Some changes (storage type) JetStream cannot
// undo; Restore then fails, naming them.
func (s *Store) Restore(ctx context.Context) ([]ConfigDiff, error) {
	st, err := s.JS.Stream(ctx, s.Stream)
	if err != nil {
		return nil, fmt.Errorf("restore stream %s: %w", s.Stream, err)
	}
	diffs := DiffConfig(s.Config(), st.CachedInfo().Config)
	if len(diffs) == 0 {
		s.stream = st
		return nil, nil
	}
	if st, err = s.JS.UpdateStream(ctx, s.Config()); err != nil {
		return nil, fmt.Errorf("restore stream %s: %w (%v)", s.Stream, err, &ConfigError{Stream: s.Stream, Diffs: diffs})
	}
	s.stream = st
	if left := DiffConfig(s.Config(), st.CachedInfo().Config); len(left) > 0 {
		return nil, &ConfigError{Stream: s.Stream, Diffs: left}
	}
	return diffs, nil
}

// CheckHistory refuses a stream that holds less than applied, the position
// a projection has reached: serving from it would show stale data and
// reuse sequences. With nothing ever deleted, the event stream must also
// still start at sequence 1.
func (s *Store) CheckHistory(ctx context.Context, applied uint64) error {
	info, err := s.stream.Info(ctx)
	if err != nil {
		return fmt.Errorf("stream info: %w", err)
	}
	st := info.State
	switch {
	case st.LastSeq < applied:
		return fmt.Errorf("%w: stream %s ends at sequence %d, but ledger.db has applied up to %d; "+
			"restore the stream from a backup, or remove ledger.db to rebuild from what the stream holds",
			ErrHistoryErased, s.Stream, st.LastSeq, applied)
	case s.Subjects == SubjectAll && st.Msgs > 0 && st.FirstSeq > 1:
		return fmt.Errorf("%w: stream %s starts at sequence %d; events before it were removed",
			ErrHistoryErased, s.Stream, st.FirstSeq)
	}
	return nil
}

// DiffConfig lists the settings in which have differs from want, after
// filling in the defaults the server fills in. Description, placement,
// compression and metadata are not compared: they change nothing keyledger
// relies on.
func DiffConfig(want, have jetstream.StreamConfig) []ConfigDiff {
	var out []ConfigDiff
	cmp := func(field string, w, h any) {
		if ws, hs := fmt.Sprint(w), fmt.Sprint(h); ws != hs {
			out = append(out, ConfigDiff{Field: field, Want: ws, Have: hs})
		}
	}
	cmp("subjects", want.Subjects, have.Subjects)
	cmp("retention", want.Retention, have.Retention)
	cmp("discard", want.Discard, have.Discard)
	cmp("discard_new_per_subject", want.DiscardNewPerSubject, have.DiscardNewPerSubject)
	cmp("max_consumers", limit(int64(want.MaxConsumers)), limit(int64(have.MaxConsumers)))
	cmp("max_msgs", limit(want.MaxMsgs), limit(have.MaxMsgs))
	cmp("max_bytes", limit(want.MaxBytes), limit(have.MaxBytes))
	cmp("max_age", want.MaxAge, have.MaxAge)
	cmp("max_msgs_per_subject", limit(want.MaxMsgsPerSubject), limit(have.MaxMsgsPerSubject))
	cmp("max_msg_size", limit(int64(want.MaxMsgSize)), limit(int64(have.MaxMsgSize)))
	cmp("storage", want.Storage, have.Storage)
	cmp("num_replicas", max(want.Replicas, 1), max(have.Replicas, 1))
	cmp("no_ack", want.NoAck, have.NoAck)
	cmp("duplicate_window", dupWindow(want.Duplicates), dupWindow(have.Duplicates))
	cmp("mirror", want.Mirror != nil, have.Mirror != nil)
	cmp("sources", len(want.Sources), len(have.Sources))
	cmp("sealed", want.Sealed, have.Sealed)
	cmp("deny_delete", want.DenyDelete, have.DenyDelete)
	cmp("deny_purge", want.DenyPurge, have.DenyPurge)
	cmp("allow_rollup_hdrs", want.AllowRollup, have.AllowRollup)
	cmp("subject_transform", transform(want.SubjectTransform), transform(have.SubjectTransform))
	cmp("republish", republish(want.RePublish), republish(have.RePublish))
	cmp("allow_direct", want.AllowDirect, have.AllowDirect)
	cmp("mirror_direct", want.MirrorDirect, have.MirrorDirect)
	cmp("allow_msg_ttl", want.AllowMsgTTL, have.AllowMsgTTL)
	cmp("subject_delete_marker_ttl", want.SubjectDeleteMarkerTTL, have.SubjectDeleteMarkerTTL)
	cmp("allow_msg_counter", want.AllowMsgCounter, have.AllowMsgCounter)
	cmp("allow_atomic", want.AllowAtomicPublish, have.AllowAtomicPublish)
	cmp("allow_msg_schedules", want.AllowMsgSchedules, have.AllowMsgSchedules)
	cmp("allow_batched", want.AllowBatchPublish, have.AllowBatchPublish)
	cmp("persist_mode", want.PersistMode, have.PersistMode)
	return out
}

// limit shows a stream limit; zero and negative both mean none.
func limit(n int64) string {
	if n <= 0 {
		return "unlimited"
	}
	return fmt.Sprint(n)
}

// dupWindow is the duplicate window the server applies (2 minutes unless set).
func dupWindow(d time.Duration) time.Duration {
	if d <= 0 {
		return 2 * time.Minute
	}
	return d
}

func republish(r *jetstream.RePublish) string {
	if r == nil {
		return "none"
	}
	return fmt.Sprintf("%s -> %s (headers only: %t)", r.Source, r.Destination, r.HeadersOnly)
}

func transform(t *jetstream.SubjectTransformConfig) string {
	if t == nil {
		return "none"
	}
	return t.Source + " -> " + t.Destination
}
