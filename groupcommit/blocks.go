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

// pos is the newest block file as a round found it just before its fsync.
type pos struct {
	index uint64
	info  os.FileInfo // nil: nothing measured
}

// unchanged reports whether the block is still the newest in dir and no
// longer than it was: nothing was written since, so an fsync that began
// after it was measured covers everything there is.
func (p pos) unchanged(dir string) bool {
	if p.info == nil {
		return false
	}
	now, err := os.Stat(blockPath(dir, p.index))
	if err != nil || !os.SameFile(p.info, now) || now.Size() != p.info.Size() {
		return false
	}
	_, err = os.Stat(blockPath(dir, p.index+1))
	return errors.Is(err, fs.ErrNotExist)
}

// sync fsyncs the newest block, and any block started since the last round
// together with the directory that now names it. Before each fsync of a
// block it reports the block as it stands to measured; it returns the last
// such position, which the round then covers.
func (b *blocks) sync(now time.Time, measured func(pos)) (pos, error) {
	if now.Sub(b.checked) >= time.Second {
		if err := b.reread(); err != nil {
			return pos{}, err
		}
		b.checked = now
	}
	var last pos
	syncHeld := func() error {
		info, err := b.f.Stat()
		if err != nil {
			return err
		}
		last = pos{index: b.index, info: info}
		measured(last)
		return b.fsync(b.f)
	}
	if b.f != nil {
		if err := syncHeld(); err != nil {
			return pos{}, err
		}
	}
	added := false
	for {
		next := blockPath(b.dir, b.index+1)
		if _, err := os.Stat(next); errors.Is(err, fs.ErrNotExist) {
			break
		} else if err != nil {
			return pos{}, err
		}
		// The server moved on to the next block after the fsync above may
		// have begun: sync the full one once more, by name.
		if b.f != nil {
			if err := b.syncPath(b.f.Name()); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return pos{}, err
			}
		}
		f, err := os.Open(next)
		if err != nil {
			return pos{}, err
		}
		b.swap(f, b.index+1)
		if err := syncHeld(); err != nil {
			return pos{}, err
		}
		added = true
	}
	if added {
		if err := b.syncPath(b.dir); err != nil {
			return pos{}, err
		}
	}
	return last, nil
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
