package keyledger

// Finding is one key whose recent use looks unusual (the suspicious-usage
// report): its owner, how unusual (Score, higher is worse), the evidence in
// words, and the exact command that revokes it (empty when the key is no
// longer active: a revoked key still tried is evidence, not a task).
type Finding struct {
	KeyID     string   `json:"key_id"`
	Owner     string   `json:"owner"`
	OwnerName string   `json:"owner_name"`
	Status    string   `json:"status"`
	Score     float64  `json:"score"`
	Evidence  []string `json:"evidence"`
	Revoke    string   `json:"revoke"`
}
