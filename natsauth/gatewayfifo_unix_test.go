//go:build unix

package natsauth

import (
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestAFIFOInTheGatewaysDirectoryDoesNotBlock: reading a FIFO named like a
// gateway waited for a writer for ever, and 32 connection attempts naming
// it held every callout slot, so that no one could connect (red team).
func TestAFIFOInTheGatewaysDirectoryDoesNotBlock(t *testing.T) {
	dir := t.TempDir()
	if _, err := NewGatewayCredential(dir, "real"); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(dir, gatewayDir, "fifo"), 0o600); err != nil {
		t.Skip("no FIFOs here:", err)
	}
	done := make(chan bool)
	go func() {
		_, ok := checkGateway(dir, "klgw_fifo_"+strings.Repeat("a", 64))
		done <- ok
	}()
	select {
	case ok := <-done:
		if ok {
			t.Fatal("a FIFO held as a credential")
		}
	case <-time.After(2 * time.Second):
		t.Fatal("reading a FIFO as a gateway credential blocked")
	}
}
