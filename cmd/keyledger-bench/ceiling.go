package main

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/keyledger/keyledger/events"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"
	"github.com/oklog/ulid/v2"
)

// bareStream is the stream of the bare ceiling, beside KEYLEDGER on the
// same servers (for the default embedded setup, on a sync_always server
// beside keyledger's: startBareServer) and configured like it (file
// storage, the same replicas, dedup window, no delete or purge).
const bareStream = "KEYLEDGER_BENCH_BARE"

// bareCeiling measures the most a command's append can cost: a JetStream
// publish of an event-sized message with the expected last sequence of its
// subject (and a message ID, as commands carry one), from Clients clients on
// as many subjects, each waiting for its ack. Nothing decides, nothing
// projects, nothing replies: what keyledger adds to an append shows as the
// ratio of a command's throughput to this.
func (b *Bench) bareCeiling(ctx context.Context, t *target) (result, error) {
	admin, err := connectService(t.bareURL, t.bareDir)
	if err != nil {
		return result{}, err
	}
	defer admin.Close()
	if err := ensureBareStream(ctx, admin, t.replicas); err != nil {
		return result{}, err
	}
	payload, err := eventSized()
	if err != nil {
		return result{}, err
	}
	type pub struct {
		js      jetstream.JetStream
		subject string
		filter  string
		last    uint64
	}
	pubs := make([]*pub, b.Clients)
	for i := range pubs {
		nc, err := connectService(t.bareURL, t.bareDir)
		if err != nil {
			return result{}, err
		}
		defer nc.Close()
		pjs, err := jetstream.New(nc)
		if err != nil {
			return result{}, err
		}
		owner := ulid.Make().String()
		pubs[i] = &pub{js: pjs, subject: "keyledger.bench.bare." + owner + ".k.issued", filter: "keyledger.bench.bare." + owner + ".>"}
	}
	res := closedLoop(ctx, b.Clients, b.Warmup, b.Duration, 0, func(ctx context.Context, i int) (time.Duration, error) {
		p := pubs[i]
		msg := expectedAppend(p.subject, p.filter, p.last, payload)
		var ack *jetstream.PubAck
		took, err := timed(func() (err error) {
			ack, err = p.js.PublishMsg(ctx, msg)
			return err
		})
		if err == nil {
			p.last = ack.Sequence
		}
		return took, err
	})
	return res, nil
}

// expectedAppend is an append as a command makes it: to subject, expecting
// last as the last sequence on filter, with a message ID.
func expectedAppend(subject, filter string, last uint64, payload []byte) *nats.Msg {
	msg := &nats.Msg{Subject: subject, Data: payload, Header: nats.Header{}}
	msg.Header.Set(jetstream.ExpectedLastSubjSeqHeader, strconv.FormatUint(last, 10))
	msg.Header.Set(jetstream.ExpectedLastSubjSeqSubjHeader, filter)
	msg.Header.Set(jetstream.MsgIDHeader, nuid.Next())
	return msg
}

// ensureBareStream creates the bare ceiling's stream if it is not there.
func ensureBareStream(ctx context.Context, nc *nats.Conn, replicas int) error {
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	if _, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name: bareStream, Subjects: []string{"keyledger.bench.bare.>"}, Storage: jetstream.FileStorage,
		Replicas: replicas, Duplicates: 2 * time.Minute, DenyDelete: true, DenyPurge: true, AllowDirect: true,
	}); err != nil {
		return fmt.Errorf("create %s: %w", bareStream, err)
	}
	return nil
}

// eventSized is the payload of the bare ceiling: a KeyIssued event as
// keyledger stores it, about 400 bytes.
func eventSized() ([]byte, error) {
	exp := time.Now().UTC().Add(90 * 24 * time.Hour).Truncate(time.Second)
	return events.Encode(&events.KeyIssued{
		Meta:  events.Meta{At: time.Now().UTC(), Actor: ulid.Make().String(), CommandID: ulid.Make().String()},
		KeyID: ulid.Make().String(), Owner: ulid.Make().String(), Name: "ci-deploy-eu-west",
		Description: "deploys from the CI pipeline", Scopes: []string{"orders:read", "orders:write"},
		ExpiresAt: &exp, SecretHash: fmt.Sprintf("%064x", 0),
	})
}

// bareWideFilter is the bare side of the 1,000-keys figure: the p50 of one
// client's appends whose expected sequence covers a filter over 1,000
// subjects (an owner with 1,000 keys has a subject per key), divided by
// that over a filter with one subject. It tells what JetStream itself
// charges for a wide owner, apart from anything keyledger does.
func (b *Bench) bareWideFilter(ctx context.Context, t *target) error {
	nc, err := connectService(t.bareURL, t.bareDir)
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	payload, err := eventSized()
	if err != nil {
		return err
	}
	wide, narrow := "keyledger.bench.bare."+ulid.Make().String(), "keyledger.bench.bare."+ulid.Make().String()
	var last = map[string]uint64{}
	for i := range 1000 {
		ack, err := js.Publish(ctx, fmt.Sprintf("%s.k%d.issued", wide, i), payload)
		if err != nil {
			return fmt.Errorf("seed the wide filter: %w", err)
		}
		last[wide] = ack.Sequence
	}
	var lat [2][]time.Duration
	var failed int
	var first error
	for n := range b.Samples + 5 {
		for j, prefix := range []string{narrow, wide} {
			msg := expectedAppend(prefix+".new.issued", prefix+".>", last[prefix], payload)
			var ack *jetstream.PubAck
			took, err := timed(func() (err error) {
				ack, err = js.PublishMsg(ctx, msg)
				return err
			})
			if err != nil {
				if failed++; first == nil {
					first = err
				}
				continue
			}
			last[prefix] = ack.Sequence
			if n >= 5 {
				lat[j] = append(lat[j], took)
			}
		}
	}
	one, thousand := result{samples: sorted(lat[0])}, result{samples: sorted(lat[1])}
	ratio := nan
	if len(one.samples) > 0 && len(thousand.samples) > 0 {
		ratio = float64(thousand.pct(50)) / float64(one.pct(50))
	}
	measured := fmt.Sprintf("%.2f (p50 %s over 1,000 subjects, %s over 1)", ratio, ms(thousand.pct(50)), ms(one.pct(50)))
	if failed > 0 {
		measured += fmt.Sprintf(", %d FAILED, first: %v", failed, first)
	}
	b.rep.add(t.name, "bare append p50, filter over 1,000 subjects ÷ over 1", measured, nan, "", nil)
	return nil
}
