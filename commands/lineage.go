package commands

import (
	"context"
	"strconv"
	"time"

	"github.com/keyledger/keyledger"
)

// MaxMatching bounds how many keys one RevokeMatching may revoke.
const MaxMatching = 100_000

// MatchResult lists the keys a RevokeMatching matched and what became of
// them; a dry run matches and revokes nothing.
type MatchResult struct {
	DryRun  bool         `json:"dry_run"`
	Matched []MatchedKey `json:"matched"`
	Revoked []string     `json:"revoked"`
	Failed  []Failure    `json:"failed"`
}

// MatchedKey names one key a filter matched.
type MatchedKey struct {
	KeyID     string    `json:"key_id"`
	Owner     string    `json:"owner"`
	OwnerName string    `json:"owner_name"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
	CreatedBy string    `json:"created_by"`
}

// RevokeMatching revokes, with one reason, every key active now that
// matches the filter: the response to a leaked credential, "everything X
// issued yesterday". Keys are revoked per owner in atomic batches; each
// batch is its own command, so a retry resumes where it stopped.
func (s *Service) RevokeMatching(ctx context.Context, a Actor, cmdID string, c RevokeMatching) (*MatchResult, error) {
	if err := requireAdmin(a); err != nil {
		return nil, err
	}
	if c.Owner == "" && c.CreatedBy == "" && c.CreatedAfter == nil && c.CreatedBefore == nil {
		return nil, keyledger.Errorf(keyledger.EInvalid, "give at least one of owner, created_by, created_after, created_before")
	}
	if err := checkText("reason", c.Reason, 0, MaxReasonLen); err != nil {
		return nil, err
	}
	f := keyledger.KeyFilter{Status: keyledger.StatusActive, Owner: c.Owner, CreatedBy: c.CreatedBy,
		CreatedAfter: c.CreatedAfter, CreatedBefore: c.CreatedBefore, Limit: 1000}
	res := &MatchResult{DryRun: c.DryRun, Matched: []MatchedKey{}, Revoked: []string{}, Failed: []Failure{}}
	var ids []string
	for {
		page, err := s.Keys(ctx, a, f)
		if err != nil {
			return nil, err
		}
		for _, k := range page.Keys {
			res.Matched = append(res.Matched, MatchedKey{KeyID: k.ID, Owner: k.Owner, OwnerName: k.OwnerName, Name: k.Name, CreatedAt: k.CreatedAt, CreatedBy: k.CreatedBy})
			ids = append(ids, k.ID)
		}
		if len(ids) > MaxMatching {
			return nil, keyledger.Errorf(keyledger.ELimitReached, "more than %d keys match; narrow the filter", MaxMatching)
		}
		if page.NextCursor == "" {
			break
		}
		f.Cursor = page.NextCursor
	}
	if c.DryRun {
		return res, nil
	}
	for i := 0; i < len(ids); i += MaxKeyIDs {
		id := cmdID
		if cmdID != "" && i > 0 {
			id = cmdID + "#" + strconv.Itoa(i/MaxKeyIDs+1)
		}
		chunk := ids[i:min(i+MaxKeyIDs, len(ids))]
		r, err := s.RevokeKeys(ctx, a, id, RevokeKeys{KeyIDs: chunk, Reason: c.Reason})
		if err != nil {
			return nil, err
		}
		res.Revoked, res.Failed = append(res.Revoked, r.Revoked...), append(res.Failed, r.Failed...)
	}
	return res, nil
}
