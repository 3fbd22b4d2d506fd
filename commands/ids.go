package commands

import (
	"context"
	"strings"

	"github.com/keyledger/keyledger"
	"github.com/oklog/ulid/v2"
)

// MaxKeyIDs is the most key IDs one revoke or delete may name.
const MaxKeyIDs = 1000

// checkID checks that id is a canonical ULID. IDs become subject tokens, so
// anything else (a wildcard, a dot, a space, lower case) is refused before it
// reaches a subject or a read. A pasted token is named as such, never echoed.
func checkID(field, id string) error {
	if id == "" {
		return keyledger.Errorf(keyledger.EInvalid, "%s is required", field)
	}
	if keyID, _, ok := keyledger.ParseToken(strings.TrimSpace(id)); ok {
		return keyledger.Errorf(keyledger.EInvalid, "%s: that is a token, not an ID; pass the key ID %s", field, keyID)
	}
	if strings.HasPrefix(id, "kl_") {
		return keyledger.Errorf(keyledger.EInvalid, "%s: that looks like a token, not an ID; pass the key ID (the 26 characters after kl_)", field)
	}
	if u, err := ulid.ParseStrict(id); err != nil || u.String() != id {
		return keyledger.Errorf(keyledger.EInvalid, "%s: %q is not an ID (26 characters, 0-9 and A-Z, such as %s)", field, printable(id), exampleID)
	}
	return nil
}

// checkIDs checks a list of key IDs.
func checkIDs(field string, ids []string) error {
	if len(ids) == 0 {
		return keyledger.Errorf(keyledger.EInvalid, "%s is required", field)
	}
	if len(ids) > MaxKeyIDs {
		return keyledger.Errorf(keyledger.EInvalid, "%s: at most %d at once, not %d", field, MaxKeyIDs, len(ids))
	}
	for _, id := range ids {
		if err := checkID(field, id); err != nil {
			return err
		}
	}
	return nil
}

const exampleID = "01JD8Z6Q9V3K4M5N6P7R8S9T0V"

// printable shortens what a caller sent for an error message: at most 40
// characters, control characters shown escaped by %q.
func printable(s string) string {
	if keyledger.LooksSecret(s) { // even a fragment of a secret is never echoed
		return "(a value that looks like a token, not shown)"
	}
	if r := []rune(s); len(r) > 40 {
		return string(r[:40]) + "…"
	}
	return s
}

// userID turns what a caller gave for a user (an ID, or the unique name of a
// user) into the user's ID. A name that several users share is refused,
// listing their IDs.
func (s *Service) userID(ctx context.Context, field, ref string) (string, error) {
	if ref == "" {
		return "", keyledger.Errorf(keyledger.EInvalid, "%s is required", field)
	}
	if _, err := ulid.ParseStrict(ref); err == nil {
		if err := checkID(field, ref); err != nil {
			return "", err
		}
		return ref, nil
	}
	if strings.HasPrefix(ref, "kl_") {
		return "", checkID(field, ref)
	}
	users, err := s.Read.Users(ctx, ref)
	if err != nil {
		return "", err
	}
	var ids []string
	for _, u := range users {
		if u.Name == ref {
			ids = append(ids, u.ID)
		}
	}
	switch len(ids) {
	case 0:
		return "", keyledger.Errorf(keyledger.EInvalid, "%s: %q is neither a user ID nor the name of a user", field, printable(ref))
	case 1:
		return ids[0], nil
	}
	return "", keyledger.Errorf(keyledger.EInvalid, "%s: %d users are named %q; pass one of their IDs: %s", field, len(ids), printable(ref), strings.Join(ids, ", "))
}
