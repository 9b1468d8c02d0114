package reconciler

import (
	"encoding/json"
	"maps"
	"slices"
)

// Kept are the requests a pass or a plan could not use because they failed
// to validate or render; their clusters keep what was last applied for
// them. A request is known by its environment's name, or, when it did not
// load far enough to be named, by its file. The zero value is empty and
// ready to use.
type Kept struct {
	byEnv  map[string]string
	byFile map[string]string
}

// KeptRequest is one kept request.
type KeptRequest struct {
	// Environment is the request's name; File is set instead when the
	// request did not load far enough to be named.
	Environment string `json:"environment,omitempty"`
	File        string `json:"file,omitempty"`
	// Message is why it was kept.
	Message string `json:"message"`
}

// AddEnvironment keeps an environment's last applied state, for reason.
func (k *Kept) AddEnvironment(env, reason string) {
	if k.byEnv == nil {
		k.byEnv = map[string]string{}
	}
	k.byEnv[env] = reason
}

// AddFile keeps the last applied state of every environment whose record
// points at file, a request too broken to be named.
func (k *Kept) AddFile(file, reason string) {
	if k.byFile == nil {
		k.byFile = map[string]string{}
	}
	k.byFile[file] = reason
}

// Len is how many requests are kept.
func (k *Kept) Len() int { return len(k.byEnv) + len(k.byFile) }

// Reason says why an environment's request was kept, if it was kept by
// name.
func (k *Kept) Reason(env string) (string, bool) {
	reason, ok := k.byEnv[env]
	return reason, ok
}

// Holds reports whether the environment of rec is kept: by its name, or
// by the file its request was last read from.
func (k *Kept) Holds(rec *Record) bool {
	if _, ok := k.byEnv[rec.Environment]; ok {
		return true
	}
	_, ok := k.byFile[rec.File]
	return ok
}

// List returns the kept requests, the named ones first, each part sorted.
func (k *Kept) List() []KeptRequest {
	out := make([]KeptRequest, 0, k.Len())
	for _, env := range slices.Sorted(maps.Keys(k.byEnv)) {
		out = append(out, KeptRequest{Environment: env, Message: k.byEnv[env]})
	}
	for _, file := range slices.Sorted(maps.Keys(k.byFile)) {
		out = append(out, KeptRequest{File: file, Message: k.byFile[file]})
	}
	return out
}

// Filter returns the kept requests for which keep is true.
func (k *Kept) Filter(keep func(KeptRequest) bool) Kept {
	var out Kept
	for _, kr := range k.List() {
		if keep(kr) {
			out.add(kr)
		}
	}
	return out
}

// Map returns a copy whose requests f rewrites (to clean their text, say).
func (k *Kept) Map(f func(KeptRequest) KeptRequest) Kept {
	var out Kept
	for _, kr := range k.List() {
		out.add(f(kr))
	}
	return out
}

// Merge adds the kept requests of other.
func (k *Kept) Merge(other *Kept) {
	for _, kr := range other.List() {
		k.add(kr)
	}
}

func (k *Kept) add(kr KeptRequest) {
	if kr.Environment != "" {
		k.AddEnvironment(kr.Environment, kr.Message)
	} else {
		k.AddFile(kr.File, kr.Message)
	}
}

// MarshalJSON writes the kept requests as their List.
func (k Kept) MarshalJSON() ([]byte, error) { return json.Marshal(k.List()) }

// KeptOf returns the kept requests given.
func KeptOf(krs ...KeptRequest) Kept {
	var k Kept
	for _, kr := range krs {
		k.add(kr)
	}
	return k
}
