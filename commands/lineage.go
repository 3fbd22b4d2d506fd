package commands

import (
	"context"
	"net/netip"
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

// usedFrom returns the keys used from inside c.UsedFrom since c.UsedSince.
func (s *Service) usedFrom(ctx context.Context, c RevokeMatching) (map[string]bool, error) {
	p, err := netip.ParsePrefix(c.UsedFrom)
	if err != nil {
		a, aerr := netip.ParseAddr(c.UsedFrom)
		if aerr != nil || a.Zone() != "" {
			return nil, keyledger.Errorf(keyledger.EInvalid, "used_from: %s is not a CIDR such as 203.0.113.0/24", keyledger.Quote(c.UsedFrom))
		}
		p = netip.PrefixFrom(a, a.BitLen())
	}
	since := s.Now().Add(-30 * 24 * time.Hour)
	if c.UsedSince != nil {
		since = *c.UsedSince
	}
	ids, err := s.read().KeysUsedFrom(ctx, p.Masked(), since)
	if err != nil {
		return nil, err
	}
	set := make(map[string]bool, len(ids))
	for _, id := range ids {
		set[id] = true
	}
	return set, nil
}

// MatchedKey names one key a filter matched.
type MatchedKey struct {
	KeyID     string    `json:"key_id"`
	Owner     string    `json:"owner"`
	OwnerName string    `json:"owner_name"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
	CreatedBy string    `json:"created_by"`
	// CreatedByName is CreatedBy's user name.
	CreatedByName string `json:"created_by_name,omitempty"`
}

// RevokeMatching revokes, with one reason, every key active now that
// matches the filter: the response to a leaked credential, "everything X
// issued yesterday". Keys are revoked per owner in atomic batches; each
// batch is its own command, so a retry resumes where it stopped.
func (s *Service) RevokeMatching(ctx context.Context, a Actor, cmdID string, c RevokeMatching) (*MatchResult, error) {
	if err := requireAdmin(a); err != nil {
		return nil, err
	}
	if c.Owner == "" && c.CreatedBy == "" && c.CreatedAfter == nil && c.CreatedBefore == nil && c.UsedFrom == "" {
		return nil, keyledger.Errorf(keyledger.EInvalid, "give at least one of owner, created_by, created_after, created_before, used_from")
	}
	var usedBy map[string]bool
	if c.UsedFrom != "" {
		var err error
		if usedBy, err = s.usedFrom(ctx, c); err != nil {
			return nil, err
		}
	}
	if err := checkText("reason", c.Reason, 0, MaxReasonLen); err != nil {
		return nil, err
	}
	f := keyledger.KeyFilter{Status: keyledger.StatusActive, Owner: c.Owner, CreatedBy: c.CreatedBy,
		CreatedAfter: c.CreatedAfter, CreatedBefore: c.CreatedBefore, Limit: 1000}
	res := &MatchResult{DryRun: c.DryRun, Matched: []MatchedKey{}, Revoked: []string{}, Failed: []Failure{}}
	names := s.userNames(ctx)
	var ids []string
	for {
		page, err := s.Keys(ctx, a, f)
		if err != nil {
			return nil, err
		}
		for _, k := range page.Keys {
			if usedBy != nil && !usedBy[k.ID] {
				continue
			}
			res.Matched = append(res.Matched, MatchedKey{KeyID: k.ID, Owner: k.Owner, OwnerName: k.OwnerName, Name: k.Name, CreatedAt: k.CreatedAt, CreatedBy: k.CreatedBy, CreatedByName: names.of(k.CreatedBy)})
			ids = append(ids, k.ID)
		}
		if names.err != nil {
			return nil, names.err
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
