package web_test

import (
	"bufio"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyledger/keyledger/events"
	"github.com/keyledger/keyledger/ledgertest"
	"github.com/keyledger/keyledger/web"
)

// TestLiveOutlivesRequestTimeouts: the server's read and write timeouts
// bound ordinary requests; a live stream goes on past them and still
// delivers.
func TestLiveOutlivesRequestTimeouts(t *testing.T) {
	l := ledgertest.New(t)
	var mu sync.Mutex
	var deliver func(events.Recorded)
	srv := web.NewServer("127.0.0.1:0", l.Service, func() error { return nil })
	srv.ReadTimeout, srv.WriteTimeout = 200*time.Millisecond, 200*time.Millisecond
	srv.Live = func(d func(events.Recorded)) (func(), error) {
		mu.Lock()
		deliver = d
		mu.Unlock()
		return func() {}, nil
	}
	if err := srv.Open(); err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	req, _ := http.NewRequest("GET", srv.URL()+"/v1/live", nil)
	req.Header.Set("Authorization", "Bearer "+l.Token)
	res, err := http.DefaultClient.Do(req)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("GET /v1/live: %v %v", err, res.Status)
	}
	defer res.Body.Close()
	lines := make(chan string, 16)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(res.Body)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	time.Sleep(time.Second) // five times both timeouts
	mu.Lock()
	deliver(events.Recorded{Seq: 42, Event: &events.KeyRevoked{Meta: events.Meta{At: time.Now()}, KeyID: "K1", Owner: "U1"}})
	mu.Unlock()
	for deadline := time.After(5 * time.Second); ; {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatal("the stream ended before the notice")
			}
			if strings.HasPrefix(line, "data: ") && strings.Contains(line, `"key_id":"K1"`) {
				return
			}
		case <-deadline:
			t.Fatal("no notice 1 s after the stream opened")
		}
	}
}
