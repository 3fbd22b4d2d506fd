package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/keyledger/keyledger"
)

func when(t *time.Time, none string) string {
	if t == nil {
		return none
	}
	return t.UTC().Format("2006-01-02 15:04Z")
}

// whenExact is when to the second, for one key's details: a key that
// expires at 11:30:59 is still active at 11:30:24.
func whenExact(t *time.Time, none string) string {
	if t == nil {
		return none
	}
	return t.UTC().Format("2006-01-02 15:04:05Z")
}

// userLabel is "alice (01J…)", or the ID alone when the name is not known,
// or "-" for no one.
func userLabel(name, id string) string {
	switch {
	case id == "":
		return "-"
	case name == "":
		return id
	}
	return name + " (" + id + ")"
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func joinOr(items []string, none string) string {
	if len(items) == 0 {
		return none
	}
	return strings.Join(items, ",")
}

// printKeys prints a key table. EXPIRES AT is the expiry the key was issued
// with; ENDS BY also counts the inactivity policy (effective_expires_at), so
// an unused key's earlier end is visible rather than silently substituted.
func printKeys(out io.Writer, keys []*keyledger.Key) {
	w := newTable(out)
	fmt.Fprintln(w, "KEY ID\tNAME\tOWNER\tSTATUS\tEXPIRES AT\tENDS BY (WITH INACTIVITY)\tLAST USED")
	for _, k := range keys {
		owner := k.Owner
		if k.OwnerName != "" {
			owner = k.OwnerName + " (" + k.Owner + ")"
		}
		ends := "same"
		switch {
		case k.Status == keyledger.StatusRevoked || k.Status == keyledger.StatusDeleted:
			ends = "-"
		case !sameTime(k.ExpiresAt, k.EffectiveExpiresAt):
			ends = when(k.EffectiveExpiresAt, "never") + " if unused"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", k.ID, k.Name, owner, k.Status, when(k.ExpiresAt, "never"), ends, when(k.LastUsedAt, "-"))
	}
	w.Flush()
}

// sameTime reports whether a and b are both nil or the same instant.
func sameTime(a, b *time.Time) bool {
	return a == nil && b == nil || a != nil && b != nil && a.Equal(*b)
}

func printKey(out io.Writer, k *keyledger.Key) {
	w := newTable(out)
	fmt.Fprintf(w, "key_id\t%s\n", k.ID)
	fmt.Fprintf(w, "name\t%s\n", k.Name)
	if k.Description != "" {
		fmt.Fprintf(w, "description\t%s\n", k.Description)
	}
	fmt.Fprintf(w, "owner\t%s\n", userLabel(k.OwnerName, k.Owner))
	fmt.Fprintf(w, "status\t%s\n", k.Status)
	fmt.Fprintf(w, "scopes\t%s\n", joinOr(k.Scopes, "-"))
	fmt.Fprintf(w, "allowed_cidrs\t%s\n", joinOr(k.AllowedCIDRs, "any"))
	if k.RateLimit != nil {
		fmt.Fprintf(w, "rate_limit\t%d per %s\n", k.RateLimit.Limit, k.RateLimit.Per)
	}
	fmt.Fprintf(w, "created\t%s by %s\n", whenExact(&k.CreatedAt, ""), userLabel(k.CreatedByName, k.CreatedBy))
	fmt.Fprintf(w, "expires_at\t%s\n", whenExact(k.ExpiresAt, "never"))
	switch {
	case k.Status == keyledger.StatusRevoked || k.Status == keyledger.StatusDeleted:
		// It has ended; no policy ends it again (the list shows -).
	case sameTime(k.EffectiveExpiresAt, k.ExpiresAt):
		fmt.Fprintf(w, "effective_expires_at\tsame (no inactivity policy ends it sooner)\n")
	default:
		fmt.Fprintf(w, "effective_expires_at\t%s (if unused: the inactivity policy)\n", whenExact(k.EffectiveExpiresAt, "never"))
	}
	fmt.Fprintf(w, "last_used_at\t%s\n", whenExact(k.LastUsedAt, "never"))
	if k.RegeneratedAt != nil {
		fmt.Fprintf(w, "regenerated_at\t%s (a new secret; audit trace %s shows its revocations)\n", whenExact(k.RegeneratedAt, ""), k.ID)
	}
	if k.RevokedAt != nil {
		fmt.Fprintf(w, "revoked_at\t%s by %s\n", whenExact(k.RevokedAt, ""), userLabel(k.RevokedByName, k.RevokedBy))
		fmt.Fprintf(w, "revoke_reason\t%s\n", orDash(k.RevokeReason))
	}
	if k.DeletedAt != nil {
		fmt.Fprintf(w, "deleted_at\t%s by %s\n", whenExact(k.DeletedAt, ""), userLabel(k.DeletedByName, k.DeletedBy))
		fmt.Fprintf(w, "delete_reason\t%s\n", orDash(k.DeleteReason))
	}
	w.Flush()
}
