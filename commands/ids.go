package commands

import (
	"fmt"

	"github.com/keyledger/keyledger"
)

// idChecker is a request body that can check the IDs it carries before any
// of them is looked up, echoed in an error, or becomes a subject token.
// Endpoints call it right after decoding.
type idChecker interface {
	checkIDs() error
}

func checkKeyIDs(field string, ids []string) error {
	for i, id := range ids {
		if err := keyledger.CheckKeyID(fmt.Sprintf("%s[%d]", field, i), id); err != nil {
			return err
		}
	}
	return nil
}

// checkUserRef refuses a token where a user is expected; "" passes (the
// field is optional, or the handler names it as required).
func checkUserRef(field, s string) error { return keyledger.CheckNotToken(field, s) }

func (c IssueKey) checkIDs() error       { return checkUserRef("owner", c.Owner) }
func (c UpdateKey) checkIDs() error      { return keyledger.CheckKeyID("key_id", c.KeyID) }
func (c RevokeKeys) checkIDs() error     { return checkKeyIDs("key_ids", c.KeyIDs) }
func (c RegenerateKey) checkIDs() error  { return keyledger.CheckKeyID("key_id", c.KeyID) }
func (c ChangeRoles) checkIDs() error    { return checkUserRef("user_id", c.UserID) }
func (c DeactivateUser) checkIDs() error { return checkUserRef("user_id", c.UserID) }
func (q keyIDQuery) checkIDs() error     { return keyledger.CheckKeyID("key_id", q.KeyID) }
func (q usersQuery) checkIDs() error     { return checkUserRef("q", q.Q) }

func (c DeleteKeys) checkIDs() error {
	if err := checkUserRef("owner", c.Owner); err != nil {
		return err
	}
	return checkKeyIDs("key_ids", c.KeyIDs)
}

// checkKeyFilter checks the user references a key list filter carries (the
// filter type lives in the root package, so it has no checkIDs method).
func checkKeyFilter(f keyledger.KeyFilter) error {
	if err := checkUserRef("owner", f.Owner); err != nil {
		return err
	}
	return checkUserRef("created_by", f.CreatedBy)
}
