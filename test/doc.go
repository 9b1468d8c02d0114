// Package test holds allot's end-to-end tests: they run allot's commands
// against the real components the harness starts.
package test
