package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/keyledger/keyledger"
	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/natsauth"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// notice is what watch prints of an access-ending event.
type notice struct {
	Seq    uint64    `json:"seq"`
	Action string    `json:"action"`
	KeyID  string    `json:"key_id"`
	Owner  string    `json:"owner,omitempty"`
	Reason string    `json:"reason,omitempty"`
	At     time.Time `json:"at"`
}

// watch prints revocations, deletions and expiries live. With --since it
// first replays what was stored from that sequence on, then goes on live
// from the stream itself, so nothing falls between replay and live.
func watch(fs *flag.FlagSet) runFunc {
	which := fs.String("events", "revoked,deleted,expired", "which `ACTIONS` to print, comma-separated")
	since := fs.Uint64("since", 0, "replay from this stream sequence (`SEQ`) first, then go on live")
	return func(ctx context.Context, cl *client, args []string) error {
		if len(args) > 0 {
			return usageError("takes no arguments, only flags")
		}
		actions := strings.Split(*which, ",")
		for _, a := range actions {
			if a != "revoked" && a != "deleted" && a != "expired" {
				return invalidValue("--events: %s is not revoked, deleted or expired", keyledger.Quote(a))
			}
		}
		// Live notifications need no key; replaying the stream needs a
		// gateway credential, which is said at once, not after a wait.
		if err := cl.loadToken(); err != nil && *since > 0 {
			return err
		}
		if *since > 0 && !natsauth.IsGatewayCredential(cl.token) {
			return keyledger.Errorf(keyledger.EUnauthenticated, "--since reads the event stream, which needs a gateway credential: "+
				"`keyledger gateway-credentials --name watcher --out gw.cred` on the server's host, then --token-file gw.cred")
		}
		nc, err := cl.conn()
		if err != nil {
			return err
		}
		w := newTable(cl.stdout)
		print := func(n notice) {
			if cl.json {
				b, _ := json.Marshal(n)
				fmt.Fprintln(cl.stdout, string(b))
				return
			}
			line := fmt.Sprintf("%d\t%s\t%s\t%s", n.Seq, n.At.Format(time.RFC3339), n.Action, n.KeyID)
			if n.Owner != "" { // clients are told no more than the key (events.ClientNotice)
				line += "\towner " + n.Owner + "\t" + n.Reason
			}
			fmt.Fprintln(w, line)
			w.Flush()
		}
		if *since > 0 {
			return replay(ctx, nc, actions, *since, print)
		}
		if !cl.json {
			fmt.Fprintf(cl.stderr, "watching %s as they happen (Ctrl-C to stop)\n", strings.Join(actions, ", "))
		}
		// Gateways share an account, and a gateway can have its stream
		// reads answered on a notification subject there (README, Known
		// limits): with a gateway credential, what was stored before watch
		// started is not news. Each event is printed once.
		var floor uint64
		if natsauth.IsGatewayCredential(cl.token) {
			if floor, err = streamEnd(ctx, nc); err != nil {
				return err
			}
		}
		seen := map[uint64]bool{}
		msgs := make(chan *nats.Msg, 1024)
		for _, a := range actions {
			sub, err := nc.ChanSubscribe("keyledger.notify."+a+".*", msgs)
			if err != nil {
				return err
			}
			defer sub.Unsubscribe()
		}
		for {
			select {
			case <-ctx.Done():
				return nil
			case m := <-msgs:
				seq, _ := strconv.ParseUint(m.Header.Get("Nats-Sequence"), 10, 64)
				// Anyone who may ask the stream something can name a
				// notification subject as the reply: print only an event
				// that is what its subject says.
				action, keyID, _ := strings.Cut(strings.TrimPrefix(m.Subject, events.NotifyPrefix), ".")
				if seq <= floor || seen[seq] {
					continue
				}
				if ev, err := events.Decode(m.Data); err == nil && ev.Action() == action && ev.KeyRef() == keyID {
					seen[seq] = true
					print(noticeOf(events.Recorded{Seq: seq, Event: ev}))
				}
			}
		}
	}
}

// gatewayStore binds the event stream as a gateway reads it.
func gatewayStore(ctx context.Context, nc *nats.Conn) (*events.Store, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	store := events.NewStore(js)
	store.DirectReads = true // a gateway's credential may create no consumer
	bctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := store.Bind(bctx); err != nil {
		// Only keyledger and gateways may read the stream.
		return nil, fmt.Errorf("reading the event stream needs a gateway credential this server knows (keyledger gateway-credentials; --token-file FILE): %w", err)
	}
	return store, nil
}

// streamEnd returns the event stream's last sequence.
func streamEnd(ctx context.Context, nc *nats.Conn) (uint64, error) {
	store, err := gatewayStore(ctx, nc)
	if err != nil {
		return 0, err
	}
	return store.LastSeq(ctx)
}

func replay(ctx context.Context, nc *nats.Conn, actions []string, from uint64, print func(notice)) error {
	store, err := gatewayStore(ctx, nc)
	if err != nil {
		return err
	}
	var filters []string
	for _, a := range actions {
		filters = append(filters, events.ActionSubjects(a)...)
	}
	err = store.FollowSubjects(ctx, filters, from, func(batch []events.Recorded) error {
		for _, r := range batch {
			print(noticeOf(r))
		}
		return nil
	})
	if ctx.Err() != nil {
		return nil
	}
	return err
}

func noticeOf(r events.Recorded) notice {
	n := notice{Seq: r.Seq, Action: r.Event.Action(), KeyID: r.Event.KeyRef(), Owner: r.Event.OwnerID(), At: r.Event.Base().At}
	switch e := r.Event.(type) {
	case *events.KeyRevoked:
		n.Reason = e.Reason
	case *events.KeyDeleted:
		n.Reason = e.Reason
	case *events.KeyExpired:
		n.Reason = e.Reason
	}
	return n
}
