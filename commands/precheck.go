package commands

import (
	"fmt"

	"github.com/keyledger/keyledger"
)

// prechecker is a request body that checks what it can without any state,
// right after decoding: above all the IDs it carries, before any of them is
// looked up, echoed in an error, or becomes a subject token; and what the
// whole request shares (a revoke's reason), so that it fails once rather than
// once per key.
type prechecker interface {
	precheck() error
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

func (c IssueKey) precheck() error  { return checkUserRef("owner", c.Owner) }
func (c UpdateKey) precheck() error { return keyledger.CheckKeyID("key_id", c.KeyID) }
func (c RevokeKeys) precheck() error {
	if err := checkKeyIDs("key_ids", c.KeyIDs); err != nil {
		return err
	}
	return checkText("reason", c.Reason, 0, MaxReasonLen)
}
func (c RegenerateKey) precheck() error  { return keyledger.CheckKeyID("key_id", c.KeyID) }
func (c ChangeRoles) precheck() error    { return checkUserRef("user_id", c.UserID) }
func (c DeactivateUser) precheck() error { return checkUserRef("user_id", c.UserID) }
func (q keyIDQuery) precheck() error     { return keyledger.CheckKeyID("key_id", q.KeyID) }
func (q usersQuery) precheck() error     { return checkUserRef("q", q.Q) }

func (c DeleteKeys) precheck() error {
	if err := checkUserRef("owner", c.Owner); err != nil {
		return err
	}
	return checkKeyIDs("key_ids", c.KeyIDs)
}

// checkKeyFilter checks the user references a key list filter carries (the
// filter type lives in the root package, so it has no precheck method).
func checkKeyFilter(f keyledger.KeyFilter) error {
	if err := checkUserRef("owner", f.Owner); err != nil {
		return err
	}
	return checkUserRef("created_by", f.CreatedBy)
}
