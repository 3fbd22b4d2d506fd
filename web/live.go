package web

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/keyledger/keyledger"
	"github.com/keyledger/keyledger/commands"
	"github.com/keyledger/keyledger/events"
)

// LiveFeed subscribes to stored events as the stream republishes them
// (keyledger.notify.<action>.<keyID>). deliver runs on the feed's goroutine
// and must not block; stop ends the subscription.
type LiveFeed func(deliver func(events.Recorded)) (stop func(), err error)

// Notice is one stored event as GET /v1/live shows it: what a console needs
// to refresh a row, and nothing more (no hashes, no detail).
type Notice struct {
	Seq    uint64    `json:"seq"`
	Action string    `json:"action"`
	KeyID  string    `json:"key_id,omitempty"`
	Owner  string    `json:"owner"`
	At     time.Time `json:"at"`
}

// Live stream limits.
const (
	// MaxLiveStreams is how many GET /v1/live streams one server holds open.
	MaxLiveStreams = 256
	// MaxLiveStreamsPerUser is how many of them one user holds, with any
	// of their keys (a console in a few tabs): no one caller takes every
	// slot and leaves the admins' consoles without live updates.
	MaxLiveStreamsPerUser = 8
	// LiveHeartbeat is how often an idle stream sends a comment line; the
	// caller's token is checked again each time.
	LiveHeartbeat = 20 * time.Second
	liveBuffer    = 256
	liveWrite     = 10 * time.Second
)

// live serves GET /v1/live: server-sent events, one per stored user event
// the caller may read (admins and auditors every owner's, developers their
// own). A caller too slow to keep up gets an "event: resync" and should
// reload what it shows.
func (s *Server) live(w http.ResponseWriter, r *http.Request) {
	if s.Live == nil {
		writeError(w, keyledger.Errorf(keyledger.ENotFound, "live events are not available on this server"))
		return
	}
	bearer, err := authorization(r)
	if err != nil {
		writeError(w, err)
		return
	}
	a, err := s.authenticate(r.Context(), bearer)
	if err != nil {
		writeError(w, err)
		return
	}
	if len(a.Roles) == 0 {
		writeError(w, keyledger.Errorf(keyledger.EForbidden, "your roles allow no queries"))
		return
	}
	if err := s.streams.acquire(a.UserID); err != nil {
		writeError(w, err)
		return
	}
	defer s.streams.release(a.UserID)
	everyone := a.Is(keyledger.RoleAdmin) || a.Is(keyledger.RoleAuditor)
	notices := make(chan Notice, liveBuffer)
	overflow := make(chan struct{}, 1)
	stop, err := s.Live(func(rec events.Recorded) {
		e := rec.Event
		if e.OwnerID() == "" || (!everyone && e.OwnerID() != a.UserID) {
			return
		}
		n := Notice{Seq: rec.Seq, Action: e.Action(), KeyID: e.KeyRef(), Owner: e.OwnerID(), At: e.Base().At}
		select {
		case notices <- n:
		default:
			select {
			case overflow <- struct{}{}:
			default:
			}
		}
	})
	if err != nil {
		s.Logger.Error("live feed", "err", err)
		writeError(w, keyledger.Errorf(keyledger.EUnavailable, "live events are unavailable"))
		return
	}
	defer stop()

	// The server's read and write timeouts bound requests, not streams: a
	// read deadline would cancel the request's context when it passes, so
	// it is lifted, and each write below gets its own deadline.
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Time{})
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	send := func(format string, args ...any) bool {
		_ = rc.SetWriteDeadline(time.Now().Add(liveWrite))
		if _, err := fmt.Fprintf(w, format, args...); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	if !send("retry: 2000\n: live\n\n") {
		return
	}
	beat := time.NewTicker(LiveHeartbeat)
	defer beat.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-s.streams.done():
			return
		case <-beat.C:
			// A revoked, expired or deleted key, or a deactivated owner,
			// ends the stream: the client learns it when it reconnects.
			ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
			_, err := s.authenticate(ctx, bearer)
			cancel()
			if err != nil || !send(": ping\n\n") {
				return
			}
		case <-overflow:
			if !send("event: resync\ndata: {}\n\n") {
				return
			}
		case n := <-notices:
			b, _ := json.Marshal(n)
			if !send("id: %d\nevent: %s\ndata: %s\n\n", n.Seq, "notice", b) {
				return
			}
			if n.Owner == a.UserID && endsActor(n, a) {
				return // the client reconnects and learns whether it may go on
			}
		}
	}
}

// endsActor reports whether n may have ended the caller's own access.
func endsActor(n Notice, a commands.Actor) bool {
	switch n.Action {
	case "deactivated", "roles_changed":
		return true
	case "revoked", "deleted", "expired":
		return n.KeyID == a.KeyID
	}
	return false
}

func (s *Server) authenticate(ctx context.Context, bearer string) (commands.Actor, error) {
	ctx, cancel := context.WithTimeout(ctx, commands.RequestTimeout)
	defer cancel()
	return s.Service.Authenticate(ctx, bearer)
}

// liveStreams bounds the open streams, in all and per user, and ends them
// at shutdown, so that they do not hold Shutdown until its deadline. The
// zero value is ready.
type liveStreams struct {
	once, endOnce sync.Once
	end           chan struct{}
	mu            sync.Mutex
	open          int
	byUser        map[string]int
}

func (l *liveStreams) init() {
	l.once.Do(func() { l.end, l.byUser = make(chan struct{}), map[string]int{} })
}

// acquire takes a slot for user, or says why not.
func (l *liveStreams) acquire(user string) error {
	l.init()
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.byUser[user] >= MaxLiveStreamsPerUser:
		return keyledger.Errorf(keyledger.ELimitReached, "you have %d live streams open, the most one user may; close one (a console tab) first", l.byUser[user])
	case l.open >= MaxLiveStreams:
		return keyledger.Errorf(keyledger.EUnavailable, "too many live streams; try again later")
	}
	l.open++
	l.byUser[user]++
	return nil
}

// release gives back a slot of user's.
func (l *liveStreams) release(user string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.open--
	if l.byUser[user]--; l.byUser[user] <= 0 {
		delete(l.byUser, user)
	}
}

// done is closed once the server shuts down.
func (l *liveStreams) done() <-chan struct{} {
	l.init()
	return l.end
}

// endAll ends every open stream; Open registers it to run at shutdown.
func (l *liveStreams) endAll() {
	l.init()
	l.endOnce.Do(func() { close(l.end) })
}
