package audit

// PriorQueries are the lookups a change makes for what it changed, as the
// projector runs them and as audit verify runs them (below a sequence).
func PriorQueries() (projector, verify []string) {
	for _, q := range prevQueries {
		projector = append(projector, q)
		verify = append(verify, priorBelow(q))
	}
	return projector, verify
}
