package events

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// NotifyPrefix starts the subjects a stored owner event is announced on:
// keyledger.notify.<action>.<keyID or _>, the stored event as the body and
// the stream sequence in the Nats-Sequence header, as JetStream's republish
// would set it. Notifications are hints (core NATS, at most once); readers
// that must not miss one follow the stream.
const NotifyPrefix = "keyledger.notify."

// ClientNotifyPrefix starts the subjects of the notifications clients get:
// keyledger.clients.notify.<action>.<keyID>, which the clients' account
// imports as keyledger.notify.<action>.<keyID>. Anyone may subscribe to
// them, with no key at all, so their body is the stored event reduced to
// its type, version, time and key ID (ClientNotice): who ended the key,
// from which address, whose it was and why stay in the stream, for
// gateways and the audit trail.
const ClientNotifyPrefix = "keyledger.clients.notify."

// ClientNotice is the body clients get when a key ends: the stored event's
// type, version and time, and the key ID, no more (no empty actor or owner
// either). events.Decode reads it as the event it stands for.
type ClientNotice struct {
	Type  string    `json:"type"`
	V     int       `json:"v"`
	At    time.Time `json:"at"`
	KeyID string    `json:"key_id"`
}

// clientNotice is e as clients are told of it, or false if they are not:
// a key revoked, deleted or expired.
func clientNotice(e Event) (ClientNotice, bool) {
	switch e.(type) {
	case *KeyRevoked, *KeyDeleted, *KeyExpired:
		b := e.Base()
		return ClientNotice{Type: b.Type, V: b.V, At: b.At, KeyID: e.KeyRef()}, true
	}
	return ClientNotice{}, false
}

// NotifySubject is where a stored e is announced, or "" if it is not (only
// events about an owner or their keys are).
func NotifySubject(e Event) string {
	if !ownerEvent(e) {
		return ""
	}
	return NotifyPrefix + e.Action() + "." + keyToken(e)
}

// notify announces msgs, just stored by this store with the last one at
// sequence last. The store does this itself rather than have the stream
// republish, because the key ID is no longer a token of the stored subject.
// An instance that stops between the acknowledgement and this publish
// announces nothing; the event is stored all the same.
func (s *Store) notify(msgs []*nats.Msg, evs []Event, last uint64) {
	nc := s.JS.Conn()
	first := last + 1 - uint64(len(msgs))
	for i, e := range evs {
		subj := NotifySubject(e)
		if subj == "" {
			continue
		}
		seq := strconv.FormatUint(first+uint64(i), 10)
		n := &nats.Msg{Subject: subj, Data: msgs[i].Data, Header: nats.Header{}}
		n.Header.Set(jetstream.StreamHeader, s.Stream)
		n.Header.Set(jetstream.SubjectHeader, msgs[i].Subject)
		n.Header.Set(jetstream.SequenceHeader, seq)
		// A notification lost here is what core NATS promises anyway; the
		// event is stored, and followers of the stream see it.
		_ = nc.PublishMsg(n)
		if c, ok := clientNotice(e); ok {
			if data, err := json.Marshal(c); err == nil {
				n := &nats.Msg{Subject: ClientNotifyPrefix + strings.TrimPrefix(subj, NotifyPrefix), Data: data, Header: nats.Header{}}
				n.Header.Set(jetstream.SequenceHeader, seq)
				_ = nc.PublishMsg(n)
			}
		}
	}
}

// GatewayUsageSubject is where gateways report their verifications to
// keyledger, a minute at a time (verifier.UsageReport). The accounts export
// it to the gateways' account alone, and only gateway credentials may
// publish to it.
const GatewayUsageSubject = "keyledger.gateway.usage"
