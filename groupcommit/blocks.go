package groupcommit

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// blocks is one stream's block files as a round syncs them. The server
// appends to its newest block only, and never compacts, renames or removes
// that one while it is the newest, so the newest is kept open and a round
// costs one fsync and one stat (of the block after it, which the server
// starts when the newest is full). Once a second the directory is read
// again, in case the server did what this relies on it not to do.
type blocks struct {
	name    string
	dir     string // .../streams/<name>/msgs
	index   uint64 // the newest block's index; 0 while the stream has none
	f       *os.File
	checked time.Time // when the directory was last read
	fsync   func(*os.File) error
}

// open finds the newest block and syncs it and the directory.
func (b *blocks) open() error {
	if err := b.reread(); err != nil {
		return err
	}
	if b.f != nil {
		if err := b.fsync(b.f); err != nil {
			return fmt.Errorf("groupcommit: %w", err)
		}
	}
	return b.syncPath(b.dir)
}

// sync fsyncs the newest block, and any block started since the last round
// together with the directory that now names it.
func (b *blocks) sync(now time.Time) error {
	if now.Sub(b.checked) >= time.Second {
		if err := b.reread(); err != nil {
			return err
		}
		b.checked = now
	}
	if b.f != nil {
		if err := b.fsync(b.f); err != nil {
			return err
		}
	}
	added := false
	for {
		next := blockPath(b.dir, b.index+1)
		if _, err := os.Stat(next); errors.Is(err, fs.ErrNotExist) {
			break
		} else if err != nil {
			return err
		}
		// The server moved on to the next block after the fsync above may
		// have begun: sync the full one once more, by name.
		if b.f != nil {
			if err := b.syncPath(b.f.Name()); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
		}
		f, err := os.Open(next)
		if err != nil {
			return err
		}
		b.swap(f, b.index+1)
		if err := b.fsync(f); err != nil {
			return err
		}
		added = true
	}
	if added {
		return b.syncPath(b.dir)
	}
	return nil
}

// reread finds the newest block in the directory and opens it if it is
// not the file held open (a newer one, or one put in its place).
func (b *blocks) reread() error {
	entries, err := os.ReadDir(b.dir)
	if err != nil {
		return fmt.Errorf("groupcommit: %w", err)
	}
	var newest uint64
	for _, e := range entries {
		n, ok := strings.CutSuffix(e.Name(), ".blk")
		if !ok {
			continue
		}
		if i, err := strconv.ParseUint(n, 10, 64); err == nil && i > newest {
			newest = i
		}
	}
	if newest == 0 {
		b.swap(nil, 0)
		return nil
	}
	path := blockPath(b.dir, newest)
	if b.f != nil && newest == b.index {
		held, err1 := b.f.Stat()
		named, err2 := os.Stat(path)
		if err1 == nil && err2 == nil && os.SameFile(held, named) {
			return nil
		}
	}
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("groupcommit: %w", err)
	}
	b.swap(f, newest)
	return nil
}

// swap holds f, the block with that index, instead of the one held.
func (b *blocks) swap(f *os.File, index uint64) {
	if b.f != nil {
		b.f.Close()
	}
	b.f, b.index = f, index
}

func (b *blocks) close() error {
	if b.f == nil {
		return nil
	}
	err := b.f.Close()
	b.f = nil
	return err
}

// syncPath opens and fsyncs one file or directory.
func (b *blocks) syncPath(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return b.fsync(f)
}

func blockPath(dir string, index uint64) string {
	return filepath.Join(dir, strconv.FormatUint(index, 10)+".blk")
}
