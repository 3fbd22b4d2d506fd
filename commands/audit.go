package commands

import (
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/keyledger/keyledger"
)

// AuditTrail is what the audit queries read; *audit.Trail is one.
type AuditTrail interface {
	List(ctx context.Context, f keyledger.AuditFilter) (*keyledger.AuditPage, error)
	Trace(ctx context.Context, keyID string, hours int) (*keyledger.KeyTrace, error)
	Prove(ctx context.Context, seq uint64) (*keyledger.AuditReceipt, error)
	Revocation(ctx context.Context, keyID string) (uint64, error)
	// LatestCheckpoint returns the tree size the newest checkpoint covers.
	LatestCheckpoint(ctx context.Context) (size, seq uint64, err error)
}

// ProveQuery asks for a receipt: of the event at Seq, or of the latest
// revocation of KeyID (exactly one of them).
type ProveQuery struct {
	Seq   uint64 `json:"seq,omitempty"`
	KeyID string `json:"key_id,omitempty"`
}

// mayReadTrail lets auditors and admins read the audit trail.
func (s *Service) mayReadTrail(a Actor) error {
	if err := mayAudit(a); err != nil {
		return err
	}
	if s.Trail == nil {
		return keyledger.Errorf(keyledger.EUnavailable, "this server keeps no audit trail")
	}
	return nil
}

// AuditList returns a page of the audit trail, newest first. Owner and
// actor may be a user ID or a user's exact name ("system" for keyledger).
func (s *Service) AuditList(ctx context.Context, a Actor, f keyledger.AuditFilter) (*keyledger.AuditPage, error) {
	if err := s.mayReadTrail(a); err != nil {
		return nil, err
	}
	var err error
	if f.KeyID != "" {
		if err := checkID("key_id", f.KeyID); err != nil {
			return nil, err
		}
	}
	if f.Owner != "" {
		if f.Owner, err = s.userID(ctx, "owner", f.Owner); err != nil {
			return nil, err
		}
	}
	if f.Actor != "" && f.Actor != System.UserID {
		if f.Actor, err = s.userID(ctx, "actor", f.Actor); err != nil {
			return nil, err
		}
	}
	if f.Action != "" {
		if err := checkAction(f.Action); err != nil {
			return nil, err
		}
	}
	if f.Since != nil && f.Until != nil && !f.Since.Before(*f.Until) {
		return nil, keyledger.Errorf(keyledger.EInvalid, "since must be before until")
	}
	if err := s.fresh(ctx); err != nil {
		return nil, err
	}
	page, err := s.Trail.List(ctx, f)
	if err != nil {
		return nil, err
	}
	if err := s.userNames(ctx).entries(page.Entries); err != nil {
		return nil, err
	}
	return page, nil
}

// TraceQuery asks for a key's trace; Hours (default
// keyledger.TraceUsageHours) is how many of its latest hours of use to
// report, at most keyledger.MaxTraceUsageHours.
type TraceQuery struct {
	KeyID string `json:"key_id"`
	Hours int    `json:"hours,omitempty"`
}

// AuditTrace returns a key's whole story: its audit entries, oldest first,
// and its use per hour.
func (s *Service) AuditTrace(ctx context.Context, a Actor, q TraceQuery) (*keyledger.KeyTrace, error) {
	if err := s.mayReadTrail(a); err != nil {
		return nil, err
	}
	if err := checkID("key_id", q.KeyID); err != nil {
		return nil, err
	}
	if q.Hours == 0 {
		q.Hours = keyledger.TraceUsageHours
	}
	if q.Hours < 1 || q.Hours > keyledger.MaxTraceUsageHours {
		return nil, keyledger.Errorf(keyledger.EInvalid, "hours: 1 to %d", keyledger.MaxTraceUsageHours)
	}
	if err := s.fresh(ctx); err != nil {
		return nil, err
	}
	tr, err := s.Trail.Trace(ctx, q.KeyID, q.Hours)
	if err != nil {
		return nil, err
	}
	names := s.userNames(ctx)
	if err := names.entries(tr.Entries); err != nil {
		return nil, err
	}
	tr.OwnerName = names.of(tr.Owner)
	if k, err := s.Read.Key(ctx, tr.KeyID); err == nil {
		tr.KeyName = k.Name
	} else if !errors.Is(err, keyledger.ErrNotFound) {
		return nil, err
	}
	return tr, nil
}

// AuditProve returns a receipt for one event, or for a key's revocation.
func (s *Service) AuditProve(ctx context.Context, a Actor, q ProveQuery) (*keyledger.AuditReceipt, error) {
	if err := s.mayReadTrail(a); err != nil {
		return nil, err
	}
	if err := s.fresh(ctx); err != nil {
		return nil, err
	}
	switch {
	case (q.Seq == 0) == (q.KeyID == ""):
		return nil, keyledger.Errorf(keyledger.EInvalid, "give seq or key_id")
	case q.KeyID != "":
		if err := checkID("key_id", q.KeyID); err != nil {
			return nil, err
		}
		seq, err := s.Trail.Revocation(ctx, q.KeyID)
		if err != nil {
			return nil, err
		}
		q.Seq = seq
	}
	if err := s.cover(ctx, q.Seq); err != nil {
		return nil, err
	}
	return s.Trail.Prove(ctx, q.Seq)
}

// cover makes sure a checkpoint this instance has projected covers seq,
// asking Checkpoint for one when the newest does not.
func (s *Service) cover(ctx context.Context, seq uint64) error {
	if s.Checkpoint == nil {
		return nil
	}
	size, _, err := s.Trail.LatestCheckpoint(ctx)
	if err != nil || size >= seq {
		return err
	}
	if _, err := s.Checkpoint(ctx, seq); err != nil {
		if keyledger.ErrorCode(err) != keyledger.EInternal {
			return err
		}
		return unavailable(err)
	}
	// Ours, or another instance's that got there first: either is in the
	// stream now, and the projections must hold it.
	last, err := s.Store.LastSeq(ctx)
	if err != nil {
		return unavailable(err)
	}
	return s.wait(ctx, last)
}

// actionKinds are what an audit action names first (audit.Action): the
// key, the user, the settings, the log itself, or an operator's step.
var actionKinds = []string{"key", "user", "settings", "audit", "ops"}

// checkAction refuses an action that cannot match any entry, so that
// "revoked" for "key.revoked" is not answered with an empty list.
func checkAction(action string) error {
	kind, verb, ok := strings.Cut(action, ".")
	if len(action) <= 40 && ok && slices.Contains(actionKinds, kind) && verb != "" &&
		strings.TrimFunc(verb, func(r rune) bool { return r == '_' || r >= 'a' && r <= 'z' }) == "" {
		return nil
	}
	if !ok && len(action) <= 40 && !strings.ContainsAny(action, " *>") {
		return keyledger.Errorf(keyledger.EInvalid, "action: %s is not an action; actions name what they are about: key.%s, user.registered, settings.changed, …",
			keyledger.Quote(action), action)
	}
	return keyledger.Errorf(keyledger.EInvalid, "action: %s is not an action such as key.revoked, user.registered or settings.changed", keyledger.Quote(action))
}
