package events

// Operations events: what operators do to the ledger itself, stored under
// keyledger.events.ops.<action>. They are part of the stream, so an
// operator's intervention is as auditable as any change to a key.

// SubjectOps holds every operations event.
const SubjectOps = SubjectPrefix + "ops.>"

// EventSkipped records that an admin told every projection to pass over the
// event at Seq, which it could not decode or apply, instead of halting on
// it. The skipped event stays in the stream; nothing is rewritten.
type EventSkipped struct {
	Meta
	Seq    uint64 `json:"seq"`
	Reason string `json:"reason"`
}

// Action implements Event.
func (*EventSkipped) Action() string { return "skipped" }

// OwnerID implements Event: operations events belong to no owner.
func (*EventSkipped) OwnerID() string { return "" }

// KeyRef implements Event.
func (*EventSkipped) KeyRef() string { return "" }

// Undecodable stands in for a stored message that is not an event this
// build can read (junk bytes, an unknown type, a newer schema). Readers
// receive it in place of the message instead of stopping, and decide what
// to do: projections halt on it, the verify index ignores it. It is never
// encoded or stored.
type Undecodable struct {
	Meta
	// Err is why decoding failed.
	Err error `json:"-"`
}

// Action implements Event.
func (*Undecodable) Action() string { return "undecodable" }

// OwnerID implements Event.
func (*Undecodable) OwnerID() string { return "" }

// KeyRef implements Event.
func (*Undecodable) KeyRef() string { return "" }
