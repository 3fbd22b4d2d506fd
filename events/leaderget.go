package events

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// msgGetRequest is the body of $JS.API.STREAM.MSG.GET: one of its fields.
type msgGetRequest struct {
	Seq       uint64     `json:"seq,omitempty"`
	LastFor   string     `json:"last_by_subj,omitempty"`
	StartTime *time.Time `json:"start_time,omitempty"`
}

// storedMsg is a message in a $JS.API.STREAM.MSG.GET reply.
type storedMsg struct {
	Subject string    `json:"subject"`
	Seq     uint64    `json:"seq"`
	Data    []byte    `json:"data"`
	Time    time.Time `json:"time"`
}

// leaderGet asks the stream's leader for one message. A direct get is
// answered by whichever replica hears it first, and a follower answers while
// it is still a few messages behind, so on a replicated stream a direct get
// can miss what was acknowledged a moment ago. The stream API's get is
// answered by the leader only, which has stored everything it acknowledged:
// the read for a check that must see the newest write. It returns
// jetstream.ErrMsgNotFound when no message matches.
func (s *Store) leaderGet(ctx context.Context, req msgGetRequest) (*storedMsg, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	reply, err := s.JS.Conn().RequestWithContext(ctx, "$JS.API.STREAM.MSG.GET."+s.Stream, body)
	if err != nil {
		return nil, err
	}
	var res struct {
		Message *storedMsg          `json:"message"`
		Error   *jetstream.APIError `json:"error"`
	}
	if err := json.Unmarshal(reply.Data, &res); err != nil {
		return nil, fmt.Errorf("decode message get reply: %w", err)
	}
	switch {
	case res.Error != nil && res.Error.ErrorCode == jetstream.JSErrCodeMessageNotFound:
		return nil, jetstream.ErrMsgNotFound
	case res.Error != nil:
		return nil, res.Error
	case res.Message == nil:
		return nil, fmt.Errorf("message get: empty reply")
	}
	return res.Message, nil
}

// replicated reports whether the stream has more than one replica, going by
// its configuration when the store was opened or bound.
func (s *Store) replicated() bool {
	info := s.stream.CachedInfo()
	return info != nil && info.Config.Replicas > 1
}
