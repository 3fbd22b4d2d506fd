package commands

import (
	"context"
	"net/netip"
	"time"

	"github.com/keyledger/keyledger"
)

// freshRead is the read model as callers of this instance must see it: a
// read of keys, users, settings or usage first waits until the projections
// hold everything this instance appended (Service.fresh). The decision
// state's refills and command outcomes pass straight through: they have
// their own answer for what is not projected yet.
type freshRead struct {
	ReadModel
	s *Service
}

// read returns the read model for answering a caller.
func (s *Service) read() freshRead { return freshRead{ReadModel: s.Read, s: s} }

// Settings implements ReadModel.
func (r freshRead) Settings(ctx context.Context) (keyledger.Settings, error) {
	if err := r.s.fresh(ctx); err != nil {
		return keyledger.Settings{}, err
	}
	return r.ReadModel.Settings(ctx)
}

// User implements ReadModel.
func (r freshRead) User(ctx context.Context, id string) (*keyledger.User, error) {
	if err := r.s.fresh(ctx); err != nil {
		return nil, err
	}
	return r.ReadModel.User(ctx, id)
}

// Users implements ReadModel.
func (r freshRead) Users(ctx context.Context, q string) ([]*keyledger.User, error) {
	if err := r.s.fresh(ctx); err != nil {
		return nil, err
	}
	return r.ReadModel.Users(ctx, q)
}

// Key implements ReadModel.
func (r freshRead) Key(ctx context.Context, id string) (*keyledger.Key, error) {
	if err := r.s.fresh(ctx); err != nil {
		return nil, err
	}
	return r.ReadModel.Key(ctx, id)
}

// Keys implements ReadModel.
func (r freshRead) Keys(ctx context.Context, f keyledger.KeyFilter) (*keyledger.KeyPage, error) {
	if err := r.s.fresh(ctx); err != nil {
		return nil, err
	}
	return r.ReadModel.Keys(ctx, f)
}

// KeysUsedFrom implements ReadModel.
func (r freshRead) KeysUsedFrom(ctx context.Context, p netip.Prefix, since time.Time) ([]string, error) {
	if err := r.s.fresh(ctx); err != nil {
		return nil, err
	}
	return r.ReadModel.KeysUsedFrom(ctx, p, since)
}
