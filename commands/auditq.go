package commands

import (
	"context"
	"time"

	"github.com/keyledger/keyledger"
)

// AuditReader answers the audit queries.
type AuditReader interface {
	Suspicious(ctx context.Context, window time.Duration, limit int) ([]keyledger.Finding, error)
}

// SuspiciousQuery asks for the keys whose use in the last Window (an ISO
// 8601 period, default PT1H, at most P7D) looks unusual.
type SuspiciousQuery struct {
	Window string `json:"window"`
	Limit  int    `json:"limit"`
}

// SuspiciousReport is the ranking, most suspicious first.
type SuspiciousReport struct {
	Window   string              `json:"window"`
	Findings []keyledger.Finding `json:"findings"`
}

// mayAudit checks that a may read the audit trail: admins and auditors.
func mayAudit(a Actor) error {
	if !a.Is(keyledger.RoleAdmin) && !a.Is(keyledger.RoleAuditor) {
		return keyledger.Errorf(keyledger.EForbidden, "only admins and auditors read the audit trail")
	}
	return nil
}

// Suspicious ranks keys by how unusual their recent use is.
func (s *Service) Suspicious(ctx context.Context, a Actor, _ string, q SuspiciousQuery) (*SuspiciousReport, error) {
	if err := mayAudit(a); err != nil {
		return nil, err
	}
	if q.Window == "" {
		q.Window = "PT1H"
	}
	p, err := parsePeriodField("window", q.Window)
	if err != nil {
		return nil, err
	}
	now := s.Now()
	window := p.AddTo(now).Sub(now)
	if window < time.Minute || window > 7*24*time.Hour {
		return nil, keyledger.Errorf(keyledger.EInvalid, "window: %s must be between PT1M and P7D", q.Window)
	}
	if q.Limit == 0 {
		q.Limit = 20
	}
	if q.Limit < 1 || q.Limit > 1000 {
		return nil, keyledger.Errorf(keyledger.EInvalid, "limit must be 1 to 1000, not %d", q.Limit)
	}
	if s.Audit == nil {
		return nil, keyledger.Errorf(keyledger.EUnavailable, "the audit queries are not enabled on this instance")
	}
	if err := s.fresh(ctx); err != nil {
		return nil, err
	}
	findings, err := s.Audit.Suspicious(ctx, window, q.Limit)
	if err != nil {
		return nil, unavailable(err)
	}
	return &SuspiciousReport{Window: q.Window, Findings: findings}, nil
}
