package commands

import (
	"fmt"
	"strings"

	"github.com/keyledger/keyledger"
	"github.com/oklog/ulid/v2"
)

// checkID checks that id is a ULID before it is looked up or becomes a
// subject token (a "*" or ">" there would widen what is read or written).
// The message never repeats the input: it may be a pasted secret.
func checkID(field, id string, required bool) error {
	switch {
	case id == "" && required:
		return keyledger.Errorf(keyledger.EInvalid, "%s is required", field)
	case id == "":
		return nil
	case strings.HasPrefix(id, "kl_"):
		return keyledger.Errorf(keyledger.EInvalid, "%s: this is an API key token, not an ID; a token belongs only in the Authorization header", field)
	}
	if _, err := ulid.ParseStrict(id); err != nil || len(id) != ulid.EncodedSize {
		return keyledger.Errorf(keyledger.EInvalid, "%s: not an ID (IDs are 26-character ULIDs)", field)
	}
	return nil
}

// checkIDList checks every ID of a list; nil means none were given.
func checkIDList(field string, ids []string) error {
	for i, id := range ids {
		if err := checkID(fmt.Sprintf("%s[%d]", field, i), id, true); err != nil {
			return err
		}
	}
	return nil
}

func (c *IssueKey) checkIDs() error       { return checkID("owner", c.Owner, false) }
func (c *UpdateKey) checkIDs() error      { return checkID("key_id", c.KeyID, true) }
func (c *RevokeKeys) checkIDs() error     { return checkIDList("key_ids", c.KeyIDs) }
func (c *RegenerateKey) checkIDs() error  { return checkID("key_id", c.KeyID, true) }
func (c *ChangeRoles) checkIDs() error    { return checkID("user_id", c.UserID, true) }
func (c *DeactivateUser) checkIDs() error { return checkID("user_id", c.UserID, true) }
func (c *keyIDQuery) checkIDs() error     { return checkID("key_id", c.KeyID, true) }

func (c *DeleteKeys) checkIDs() error {
	if err := checkID("owner", c.Owner, false); err != nil {
		return err
	}
	return checkIDList("key_ids", c.KeyIDs)
}
