package events

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Direct reads: a follower that may not create consumers (a gateway, or
// the CLI with a gateway's credential) reads the stream with batched direct
// gets instead. Each is one request; nothing is left on the servers.
const (
	// directBatch and directBatchBytes bound one answer.
	directBatch      = 4096
	directBatchBytes = 8 << 20
	// directTimeout bounds the wait for one whole answer.
	directTimeout = 10 * time.Second
	// directPoll is how often a caught-up follower asks again when no
	// notification woke it (settings and checkpoints announce nothing).
	directPoll = 250 * time.Millisecond
)

// directRequest is JetStream's batched direct get.
type directRequest struct {
	Seq      uint64 `json:"seq"`
	Batch    int    `json:"batch"`
	MaxBytes int    `json:"max_bytes"`
}

// followDirect is follow without a consumer: batches of direct gets from
// from on, and once caught up, again as soon as a notification says an
// event was stored, or after directPoll. fn sees only the events on
// filters, in order. As in follow, the next batch is read and decoded on
// another goroutine while fn applies this one.
func (s *Store) followDirect(ctx context.Context, filters []string, from uint64, fn func([]Recorded) error) error {
	if from == 0 {
		from = 1
	}
	wake := make(chan struct{}, 1)
	sub, err := s.JS.Conn().Subscribe(NotifyPrefix+">", func(*nats.Msg) {
		select {
		case wake <- struct{}{}:
		default:
		}
	})
	if err != nil {
		return fmt.Errorf("follow: %w", err)
	}
	defer sub.Unsubscribe()
	rctx, stop := context.WithCancel(ctx)
	defer stop()
	batches := make(chan []Recorded, 2)
	readErr := make(chan error, 1)
	go func() {
		defer close(batches)
		readErr <- s.readDirect(rctx, from, wake, batches)
	}()
	for b := range batches {
	gather: // what was read while fn was busy comes as one batch, as in follow
		for len(b) < maxFollowBatch {
			select {
			case more, ok := <-batches:
				if !ok {
					break gather
				}
				b = append(b, more...)
			default:
				break gather
			}
		}
		if kept := onSubjects(b, filters); len(kept) > 0 {
			if err := fn(kept); err != nil {
				stop()
				for range batches { // let the reader see the end
				}
				return err
			}
		}
	}
	return <-readErr
}

// readDirect sends the stream's batches from from on to out, waiting for
// wake or directPoll whenever it has read all there is.
func (s *Store) readDirect(ctx context.Context, from uint64, wake <-chan struct{}, out chan<- []Recorded) error {
	poll := time.NewTicker(directPoll)
	defer poll.Stop()
	for {
		batch, next, err := s.directBatch(ctx, from)
		if err != nil {
			return err
		}
		if len(batch) > 0 {
			select {
			case out <- batch:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		from = next
		if len(batch) == directBatch {
			continue // more to read at once
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-wake:
		case <-poll.C:
		}
	}
}

// directBatch reads the events from from on, up to directBatch of them, and
// returns them with the sequence to read next.
func (s *Store) directBatch(ctx context.Context, from uint64) ([]Recorded, uint64, error) {
	nc := s.JS.Conn()
	inbox := nc.NewInbox()
	// Room for a whole answer and its end: a full channel would drop.
	msgs := make(chan *nats.Msg, directBatch+2)
	sub, err := nc.ChanSubscribe(inbox, msgs)
	if err != nil {
		return nil, from, fmt.Errorf("direct get: %w", err)
	}
	defer sub.Unsubscribe()
	req, _ := json.Marshal(directRequest{Seq: from, Batch: directBatch, MaxBytes: directBatchBytes})
	if err := nc.PublishRequest("$JS.API.DIRECT.GET."+s.Stream, inbox, req); err != nil {
		return nil, from, fmt.Errorf("direct get: %w", err)
	}
	timeout := time.NewTimer(directTimeout)
	defer timeout.Stop()
	var out []Recorded
	next := from
	for {
		var m *nats.Msg
		select {
		case m = <-msgs:
		case <-timeout.C:
			return nil, from, fmt.Errorf("direct get from seq %d: %w", from, nats.ErrTimeout)
		case <-ctx.Done():
			return nil, from, ctx.Err()
		}
		switch status := m.Header.Get("Status"); status {
		case "":
		case "204", "404": // the end of the batch; nothing at or after from
			return out, next, nil
		case "503":
			return nil, from, fmt.Errorf("direct get from seq %d: %w", from, nats.ErrNoResponders)
		default:
			return nil, from, fmt.Errorf("direct get from seq %d: status %s %s", from, status, m.Header.Get("Description"))
		}
		seq, err := strconv.ParseUint(m.Header.Get(jetstream.SequenceHeader), 10, 64)
		if err != nil || seq < next {
			return nil, from, fmt.Errorf("direct get from seq %d: answer with sequence %q", from, m.Header.Get(jetstream.SequenceHeader))
		}
		ev, err := Decode(m.Data)
		if err != nil {
			ev = &Undecodable{Err: err} // readers decide what it means
		}
		out = append(out, Recorded{Seq: seq, Subject: m.Header.Get(jetstream.SubjectHeader), Event: ev, Data: m.Data})
		next = seq + 1
	}
}

// onSubjects keeps the events whose subject one of filters matches.
func onSubjects(batch []Recorded, filters []string) []Recorded {
	if len(filters) == 0 || (len(filters) == 1 && filters[0] == ">") {
		return batch
	}
	var out []Recorded
	for _, r := range batch {
		for _, f := range filters {
			if subjectMatches(f, r.Subject) {
				out = append(out, r)
				break
			}
		}
	}
	return out
}

// subjectMatches reports whether subject is on filter, with NATS wildcards:
// * is one token, > the rest.
func subjectMatches(filter, subject string) bool {
	ft, st := strings.Split(filter, "."), strings.Split(subject, ".")
	for i, f := range ft {
		switch {
		case f == ">":
			return len(st) > i
		case i >= len(st):
			return false
		case f != "*" && f != st[i]:
			return false
		}
	}
	return len(ft) == len(st)
}
