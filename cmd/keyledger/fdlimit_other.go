//go:build !unix

package main

// openFileLimit is unknown here: the embedded server keeps its default.
func openFileLimit() uint64 { return 0 }
