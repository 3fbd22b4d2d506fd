package events

// AccessDenied records an attempt keyledger refused: a key that authenticated
// but whose owner's roles do not allow the call (Code "forbidden"), or a
// real key presented with a wrong secret, or after it ended
// (Code "unauthenticated"). It decides nothing; it is stored so the audit
// trail shows who tried what. The service stores at most a few per source
// and minute, so nobody can flood the stream with them.
type AccessDenied struct {
	Meta
	KeyID    string `json:"key_id"`
	Owner    string `json:"owner"`
	Endpoint string `json:"endpoint"`
	Code     string `json:"code"`
}

// Action implements Event.
func (*AccessDenied) Action() string { return "denied" }

// OwnerID implements Event.
func (e *AccessDenied) OwnerID() string { return e.Owner }

// KeyRef implements Event.
func (e *AccessDenied) KeyRef() string { return e.KeyID }
