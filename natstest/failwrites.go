package natstest

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// FailWrites makes every write this process makes to stream's message
// blocks fail as on a full disk (ENOSPC): each open block file descriptor
// is replaced by /dev/full. nats-server then marks the stream unwritable
// and stops answering appends to it, as it does when its disk fills. It
// returns how many descriptors it replaced; it skips the test where there
// is no /dev/full or /proc.
func FailWrites(tb testing.TB, stream string) int {
	tb.Helper()
	full, err := os.OpenFile("/dev/full", os.O_WRONLY, 0)
	if err != nil {
		tb.Skipf("no /dev/full: %v", err)
	}
	defer full.Close()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		tb.Skipf("no /proc/self/fd: %v", err)
	}
	n := 0
	for _, e := range fds {
		path, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name()))
		if err != nil || !strings.Contains(path, "/streams/"+stream+"/msgs/") || !strings.HasSuffix(path, ".blk") {
			continue
		}
		fd, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if err := syscall.Dup2(int(full.Fd()), fd); err != nil {
			tb.Fatal(err)
		}
		n++
	}
	return n
}
