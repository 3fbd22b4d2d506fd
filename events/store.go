package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"
)

// Errors a store caller decides on.
var (
	// ErrConflict means the aggregate changed since it was loaded: reload,
	// decide again, append again.
	ErrConflict = errors.New("events: aggregate changed since it was loaded")
	// ErrDuplicate means an append with this message ID was already stored.
	ErrDuplicate = errors.New("events: message ID already stored")
)

// MaxBatch is the most events one atomic append may hold (nats-server's
// default limit for atomic batches).
const MaxBatch = 1000

// Recorded is an event as stored: its stream sequence, its subject, the
// decoded event, and the exact bytes the stream holds (the audit log hashes
// those, not a re-encoding).
type Recorded struct {
	Seq     uint64
	Subject string
	Event   Event
	Data    []byte
}

// Store is an event store on a JetStream stream. Fill the fields, then Open.
type Store struct {
	JS       jetstream.JetStream
	Stream   string // "KEYLEDGER", or "KEYLEDGER_USAGE"
	Subjects string // what the stream holds: SubjectAll or SubjectUsage
	Replicas int    // 1; 3 on a cluster
	// MaxAge is how long usage is kept; the event stream keeps everything.
	MaxAge time.Duration
	// DirectReads makes Follow read with batched direct gets instead of a
	// consumer (direct.go), for readers that may not create consumers:
	// gateways. A credential that may create a consumer may create any
	// kind, a push consumer delivering the stream to any subject among
	// them, so gateways are given none.
	DirectReads bool

	stream jetstream.Stream
	fault  fault // fault.go
}

// NewStore returns the event store: stream KEYLEDGER, R1.
func NewStore(js jetstream.JetStream) *Store {
	return &Store{JS: js, Stream: "KEYLEDGER", Subjects: SubjectAll, Replicas: 1}
}

// NewUsageStore returns the usage store: stream KEYLEDGER_USAGE, kept for
// 400 days, R1.
func NewUsageStore(js jetstream.JetStream) *Store {
	return &Store{JS: js, Stream: "KEYLEDGER_USAGE", Subjects: SubjectUsage, Replicas: 1, MaxAge: 400 * 24 * time.Hour}
}

// Config is the stream configuration the store keeps. The event stream has
// file storage, nothing ever deleted or purged, and atomic batches; the
// store announces what it appends itself (notify.go). The usage stream drops
// what is older than MaxAge.
func (s *Store) Config() jetstream.StreamConfig {
	if s.Subjects == SubjectUsage {
		return jetstream.StreamConfig{
			Name:        s.Stream,
			Description: "keyledger usage: per key, per minute, per instance",
			Subjects:    []string{SubjectUsage},
			Storage:     jetstream.FileStorage,
			Replicas:    s.Replicas,
			MaxAge:      s.MaxAge,
			Duplicates:  2 * time.Minute,
			DenyDelete:  true,
			DenyPurge:   true,
		}
	}
	return jetstream.StreamConfig{
		Name:               s.Stream,
		Description:        "keyledger events: the source of truth",
		Subjects:           []string{SubjectAll},
		Storage:            jetstream.FileStorage,
		Replicas:           s.Replicas,
		Retention:          jetstream.LimitsPolicy,
		Discard:            jetstream.DiscardNew,
		Duplicates:         2 * time.Minute,
		DenyDelete:         true,
		DenyPurge:          true,
		AllowAtomicPublish: true,
		AllowDirect:        true,
	}
}

// Open creates the stream if it does not exist, and otherwise checks that
// its configuration is Config: a *ConfigError lists every difference, and
// Restore puts it back (see streamcheck.go).
func (s *Store) Open(ctx context.Context) error { return s.open(ctx) }

// Bind attaches to the stream as it is, without creating or changing it:
// for readers such as gateways that may not manage streams.
func (s *Store) Bind(ctx context.Context) error {
	st, err := s.JS.Stream(ctx, s.Stream)
	if err != nil {
		return fmt.Errorf("bind stream %s: %w", s.Stream, err)
	}
	s.stream = st
	return nil
}

// LastSeq returns the sequence of the newest event in the stream (0 if none).
func (s *Store) LastSeq(ctx context.Context) (uint64, error) {
	info, err := s.stream.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("stream info: %w", err)
	}
	return info.State.LastSeq, nil
}

// LastStored returns the sequence of the newest message the stream still
// holds (0 if it holds none). LastSeq is the stream's counter, which also
// counts messages it no longer has: aged out, or lost with a write to its
// files that failed (a full disk), after which nats-server may come back
// with a last sequence no message carries. A reader catching up to LastSeq
// would wait for that message forever.
func (s *Store) LastStored(ctx context.Context) (uint64, error) {
	info, err := s.stream.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("stream info: %w", err)
	}
	if info.State.Msgs == 0 {
		return 0, nil
	}
	msg, err := s.latest(ctx, s.Subjects)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return 0, nil
	} else if err != nil {
		return 0, fmt.Errorf("newest stored message: %w", err)
	}
	return msg.Seq, nil
}

// Last returns the sequence of the newest message in the stream and when it
// was stored (0 and the zero time if none).
func (s *Store) Last(ctx context.Context) (uint64, time.Time, error) {
	info, err := s.stream.Info(ctx)
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("stream info: %w", err)
	}
	return info.State.LastSeq, info.State.LastTime, nil
}

// SeqAt returns the sequence of the newest message stored at or before t
// (0 if none was): where a point-in-time view must stop.
func (s *Store) SeqAt(ctx context.Context, t time.Time) (uint64, error) {
	after := t.UTC().Add(time.Nanosecond)
	msg, err := s.leaderGet(ctx, msgGetRequest{StartTime: &after})
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return s.LastSeq(ctx) // nothing was stored after t
	} else if err != nil {
		return 0, fmt.Errorf("sequence at %s: %w", t.Format(time.RFC3339), err)
	}
	return msg.Seq - 1, nil
}

// Load returns every event on filter in order and the sequence of the last
// one: the expected sequence for the next Append to that aggregate (0 when
// the aggregate is empty). It reads with direct gets and creates no consumer;
// tests and tools use it, commands decide on in-memory state instead.
func (s *Store) Load(ctx context.Context, filter string) ([]Recorded, uint64, error) {
	recs, err := s.After(ctx, filter, 0)
	if err != nil || len(recs) == 0 {
		return nil, 0, err
	}
	return recs, recs[len(recs)-1].Seq, nil
}

// Latest returns the newest event stored on one literal subject, or nil if
// there is none or it is at or before sequence after (which the caller
// holds already, so it is not decoded again). It is one get, answered from
// the stream's subject index: a direct get on one server, and on a
// replicated stream a get answered by the leader (leaderGet), since the
// caller checks for a write another instance has just had acknowledged.
func (s *Store) Latest(ctx context.Context, subject string, after uint64) (*Recorded, error) {
	msg, err := s.latest(ctx, subject)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, nil
	} else if err != nil {
		return nil, fmt.Errorf("latest on %s: %w", subject, err)
	}
	if msg.Seq <= after {
		return nil, nil
	}
	ev, err := Decode(msg.Data)
	if err != nil {
		return nil, fmt.Errorf("seq %d: %w", msg.Seq, err)
	}
	return &Recorded{Seq: msg.Seq, Subject: msg.Subject, Event: ev, Data: msg.Data}, nil
}

// latest reads the newest message on subject from a server that holds every
// acknowledged write.
func (s *Store) latest(ctx context.Context, subject string) (*storedMsg, error) {
	if s.replicated() {
		return s.leaderGet(ctx, msgGetRequest{LastFor: subject})
	}
	msg, err := directGet(ctx, func() (*jetstream.RawStreamMsg, error) { return s.stream.GetLastMsgForSubject(ctx, subject) })
	if err != nil {
		return nil, err
	}
	return &storedMsg{Subject: msg.Subject, Seq: msg.Sequence, Data: msg.Data, Time: msg.Time}, nil
}

// directGet runs get, asking again for a moment while no server answers:
// a replicated stream just created or moved answers direct gets only once
// its replicas have subscribed, a little after it exists.
func directGet(ctx context.Context, get func() (*jetstream.RawStreamMsg, error)) (*jetstream.RawStreamMsg, error) {
	for wait := 10 * time.Millisecond; ; wait *= 2 {
		msg, err := get()
		if !errors.Is(err, nats.ErrNoResponders) || wait > time.Second {
			return msg, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(wait):
		}
	}
}

// After returns the events on filter stored after sequence seq, in order. It
// asks the stream for the next message on the subject filter, one get at a
// time (direct get where the stream allows it), so it creates no consumer and
// costs one round trip per event returned: the way a command catches one
// aggregate up after another writer got there first.
func (s *Store) After(ctx context.Context, filter string, seq uint64) ([]Recorded, error) {
	var out []Recorded
	for {
		msg, err := directGet(ctx, func() (*jetstream.RawStreamMsg, error) {
			return s.stream.GetMsg(ctx, seq+1, jetstream.WithGetMsgSubject(filter))
		})
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return out, nil
		} else if err != nil {
			return nil, fmt.Errorf("read %s after %d: %w", filter, seq, err)
		}
		ev, err := Decode(msg.Data)
		if err != nil {
			// As in follow: an aggregate passes over it (an admin skipped it,
			// or projections halt on it and commands are refused).
			ev = &Undecodable{Err: err}
		}
		out = append(out, Recorded{Seq: msg.Sequence, Subject: msg.Subject, Event: ev, Data: msg.Data})
		seq = msg.Sequence
	}
}

// Follow delivers every event from sequence from on, in batches of what is
// already available (at most max), until ctx ends or fn fails.
func (s *Store) Follow(ctx context.Context, from uint64, fn func([]Recorded) error) error {
	return s.FollowSubjects(ctx, []string{s.Subjects}, from, fn)
}

// FollowSubjects is Follow for the events on some subjects only.
func (s *Store) FollowSubjects(ctx context.Context, filters []string, from uint64, fn func([]Recorded) error) error {
	return s.follow(ctx, filters, from, fn)
}

// follow reads and decodes on one goroutine and calls fn on the caller's
// with everything decoded so far: while fn applies a batch, the next
// events are read and decoded, so a follower that falls behind gets fewer,
// larger batches instead of queueing. (A message's pending count cannot
// tell: it is the stream's backlog when the server sent it, and a consumer
// that keeps up is sent each message alone.)
func (s *Store) follow(ctx context.Context, filters []string, from uint64, fn func([]Recorded) error) error {
	if s.DirectReads {
		return s.followDirect(ctx, filters, from, fn)
	}
	if from == 0 {
		from = 1
	}
	cons, err := s.stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		FilterSubjects: filters,
		DeliverPolicy:  jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:    from,
	})
	if err != nil {
		return fmt.Errorf("consumer: %w", err)
	}
	it, err := cons.Messages()
	if err != nil {
		return fmt.Errorf("consume: %w", err)
	}
	defer it.Stop()
	rctx, stop := context.WithCancel(ctx)
	defer stop()
	decoded := make(chan Recorded, maxFollowBatch)
	readErr := make(chan error, 1)
	go func() {
		defer close(decoded)
		readErr <- readDecoded(rctx, it, decoded)
	}()
	for {
		r, ok := <-decoded
		if !ok {
			return <-readErr
		}
		batch := append(make([]Recorded, 0, min(len(decoded)+1, maxFollowBatch)), r)
	gather:
		for len(batch) < maxFollowBatch {
			select {
			case r, ok := <-decoded:
				if !ok {
					break gather
				}
				batch = append(batch, r)
			default:
				break gather
			}
		}
		if err := fn(batch); err != nil {
			stop()
			for range decoded { // let the reader see the end
			}
			return err
		}
	}
}

// maxFollowBatch bounds one batch handed to a follower's fn.
const maxFollowBatch = 1000

// readDecoded decodes the messages of it and sends each on out, until ctx
// ends or the stream fails.
func readDecoded(ctx context.Context, it jetstream.MessagesContext, out chan<- Recorded) error {
	for {
		msg, err := it.Next(jetstream.NextContext(ctx))
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("next: %w", err)
		}
		meta, err := msg.Metadata()
		if err != nil {
			return fmt.Errorf("metadata: %w", err)
		}
		ev, err := Decode(msg.Data())
		if err != nil {
			// Readers decide what an unreadable event means (see Undecodable).
			ev = &Undecodable{Err: err}
		}
		select {
		case out <- Recorded{Seq: meta.Sequence.Stream, Subject: msg.Subject(), Event: ev, Data: msg.Data()}:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Append stores evs atomically if the last event on filter still has
// sequence expected, and returns the sequence of the last one stored.
// msgID (may be empty) makes a retried append a no-op: ErrDuplicate. An
// empty filter appends with no expectation, for an event that decides
// nothing (a witness's co-signature).
func (s *Store) Append(ctx context.Context, filter string, expected uint64, msgID string, evs []Event) (uint64, error) {
	if len(evs) == 0 {
		return 0, errors.New("append: no events")
	}
	if len(evs) > MaxBatch {
		return 0, fmt.Errorf("append: %d events is over the batch limit of %d", len(evs), MaxBatch)
	}
	if err := s.Fault(); err != nil {
		return 0, fmt.Errorf("append: %w", err)
	}
	msgs := make([]*nats.Msg, len(evs))
	for i, e := range evs {
		data, err := Encode(e)
		if err != nil {
			return 0, fmt.Errorf("append: %w", err)
		}
		msgs[i] = &nats.Msg{Subject: Subject(e), Data: data, Header: nats.Header{}}
	}
	first := msgs[0].Header
	if filter != "" {
		first.Set(jetstream.ExpectedLastSubjSeqHeader, strconv.FormatUint(expected, 10))
		first.Set(jetstream.ExpectedLastSubjSeqSubjHeader, filter)
	}
	if msgID != "" {
		first.Set(jetstream.MsgIDHeader, msgID)
	}
	ctx, release := s.untilFault(ctx)
	defer release()
	if len(msgs) == 1 {
		ack, err := s.JS.PublishMsg(ctx, msgs[0])
		if err != nil {
			return 0, appendError(unanswered(ctx, err))
		}
		if ack.Duplicate {
			return ack.Sequence, ErrDuplicate
		}
		s.notify(msgs, evs, ack.Sequence)
		return ack.Sequence, nil
	}
	last, err := s.appendBatch(ctx, msgs)
	if err != nil {
		return 0, unanswered(ctx, err)
	}
	s.notify(msgs, evs, last)
	return last, nil
}

// appendBatch publishes msgs as one atomic batch: all are stored, or none.
func (s *Store) appendBatch(ctx context.Context, msgs []*nats.Msg) (uint64, error) {
	nc := s.JS.Conn()
	id := nuid.Next()
	for i, m := range msgs {
		m.Header.Set("Nats-Batch-Id", id)
		m.Header.Set("Nats-Batch-Sequence", strconv.Itoa(i+1))
		if i < len(msgs)-1 {
			if err := nc.PublishMsg(m); err != nil {
				return 0, fmt.Errorf("append batch: %w", err)
			}
			continue
		}
		m.Header.Set("Nats-Batch-Commit", "1")
	}
	reply, err := nc.RequestMsgWithContext(ctx, msgs[len(msgs)-1])
	if err != nil {
		return 0, fmt.Errorf("append batch: %w", err)
	}
	var ack struct {
		Seq   uint64              `json:"seq"`
		Count int                 `json:"count"`
		Error *jetstream.APIError `json:"error"`
	}
	if err := json.Unmarshal(reply.Data, &ack); err != nil {
		return 0, fmt.Errorf("append batch: bad ack: %w", err)
	}
	if ack.Error != nil {
		return 0, appendError(ack.Error)
	}
	if ack.Count != len(msgs) {
		return 0, fmt.Errorf("append batch: stored %d of %d events", ack.Count, len(msgs))
	}
	return ack.Seq, nil
}

// appendError turns JetStream's answers into the store's sentinels.
func appendError(err error) error {
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		switch apiErr.ErrorCode {
		case jetstream.JSErrCodeStreamWrongLastSequence, jetstream.JSErrCodeStreamWrongLastSequenceConstant:
			return fmt.Errorf("%w (%s)", ErrConflict, apiErr.Description)
		case 10201: // atomic batch contains a message ID already stored
			return fmt.Errorf("%w (%s)", ErrDuplicate, apiErr.Description)
		}
	}
	return fmt.Errorf("append: %w", err)
}

// Record stores one event that decides nothing (a denied attempt) with no
// expected sequence, and returns its sequence.
func (s *Store) Record(ctx context.Context, e Event) (uint64, error) {
	if err := s.Fault(); err != nil {
		return 0, fmt.Errorf("record: %w", err)
	}
	data, err := Encode(e)
	if err != nil {
		return 0, fmt.Errorf("record: %w", err)
	}
	m := &nats.Msg{Subject: Subject(e), Data: data}
	ctx, release := s.untilFault(ctx)
	defer release()
	ack, err := s.JS.PublishMsg(ctx, m)
	if err != nil {
		return 0, fmt.Errorf("record: %w", unanswered(ctx, err))
	}
	s.notify([]*nats.Msg{m}, []Event{e}, ack.Sequence)
	return ack.Sequence, nil
}

// Publish stores independent events (usage) without expectations, each with
// its message ID so a retried flush is not counted twice, and waits until
// all are acknowledged.
func (s *Store) Publish(ctx context.Context, evs []Event, msgIDs []string) error {
	if err := s.Fault(); err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	futures := make([]jetstream.PubAckFuture, 0, len(evs))
	for i, e := range evs {
		data, err := Encode(e)
		if err != nil {
			return fmt.Errorf("publish: %w", err)
		}
		m := &nats.Msg{Subject: Subject(e), Data: data, Header: nats.Header{}}
		m.Header.Set(jetstream.MsgIDHeader, msgIDs[i])
		f, err := s.JS.PublishMsgAsync(m)
		if err != nil {
			return fmt.Errorf("publish: %w", err)
		}
		futures = append(futures, f)
	}
	ctx, release := s.untilFault(ctx)
	defer release()
	for _, f := range futures {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			return fmt.Errorf("publish: %w", err)
		case <-ctx.Done(): // or the server will not answer
			return unanswered(ctx, ctx.Err())
		}
	}
	return nil
}
