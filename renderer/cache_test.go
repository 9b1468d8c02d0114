package renderer

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/allot-dev/allot/internal/testfs"
)

// copyExamples copies the example requests repository into a new folder.
func copyExamples(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(examplesDir())); err != nil {
		t.Fatal(err)
	}
	return dir
}

// keysByEnv renders nothing: it returns each target's cache key, by
// environment and cluster.
func keysByEnv(t *testing.T, c *Cache, dir string) map[string]string {
	t.Helper()
	r := newRenderer(t, dir)
	targets, errs := r.Targets()
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	keys, err := c.Keys(dir, r.Repo, targets)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != len(targets) {
		t.Fatalf("%d keys for %d targets", len(keys), len(targets))
	}
	out := map[string]string{}
	for i, tg := range targets {
		out[tg.Env.Environment.Metadata.Name+"@"+tg.Cluster.Name] = keys[i]
	}
	return out
}

// Issue 13: a render is found again by the digest of all it read. A change
// to one request changes its key alone; a change to anything else of the
// repository (a template, an add-on, allot.yaml) changes every key.
func TestCacheKeysFollowWhatARenderReads(t *testing.T) {
	c := &Cache{}
	if executableID() == "" {
		t.Fatal("the test binary has no Go build ID: the render cache would never work")
	}
	dir := copyExamples(t)
	before := keysByEnv(t, c, dir)
	if again := keysByEnv(t, c, dir); !reflect.DeepEqual(before, again) {
		t.Fatalf("the same repository gave other keys:\n%v\n%v", before, again)
	}

	file := filepath.Join(dir, "environments", "search", "search-sandbox.yaml")
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	testfs.WriteFile(t, file, strings.Replace(string(data), "    - sam.ortiz@acme.example", "    - sam.ortiz@acme.example\n    - new.member@acme.example", 1))
	after := keysByEnv(t, c, dir)
	for env, key := range after {
		changed := key != before[env]
		if want := strings.HasPrefix(env, "search-sandbox@"); changed != want {
			t.Errorf("after editing search-sandbox's request, %s's key changed: %v; want %v", env, changed, want)
		}
	}

	// Any other file: every key changes.
	testfs.WriteFile(t, filepath.Join(dir, "addons", "README.md"), "a note\n")
	for env, key := range keysByEnv(t, c, dir) {
		if key == after[env] {
			t.Errorf("after adding a file beside the requests, %s's key stayed the same", env)
		}
	}
}

// A bundle read back from disk is the bundle that was rendered: every
// type, the vcluster's import with its inside bundle, and whole numbers as
// int64, as the renderer decodes them. A file that was tampered with is
// not used, and files nobody used for MaxAge are removed.
func TestCacheKeepsBundlesOnDisk(t *testing.T) {
	dir := copyExamples(t)
	r := newRenderer(t, dir)
	targets, errs := r.Targets()
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	cacheDir := t.TempDir()
	c := &Cache{Dir: cacheDir}
	keys, err := c.Keys(dir, r.Repo, targets)
	if err != nil {
		t.Fatal(err)
	}
	types := map[string]bool{}
	rendered := map[string]*Bundle{}
	for i, res := range r.RenderAll(context.Background(), targets) {
		if res.Err != nil {
			t.Fatal(res.Err)
		}
		c.Put(keys[i], res.Bundle)
		rendered[keys[i]] = res.Bundle
		types[res.Bundle.Type] = true
	}
	c.Done()
	// The files are written in the background.
	c.Wait()
	if !types["namespace"] || !types["vcluster"] || !types["ecs"] {
		t.Fatalf("the examples rendered types %v; want namespace, vcluster and ecs", types)
	}

	// A new process: nothing in memory.
	fresh := &Cache{Dir: cacheDir}
	for key, want := range rendered {
		got := fresh.Get(key)
		if got == nil {
			t.Fatalf("%s (%s) was not read back", want.Environment, want.Type)
		}
		if !reflect.DeepEqual(encode(t, got), encode(t, want)) || got.Digest != want.Digest {
			t.Fatalf("%s read back differs from its render", want.Environment)
		}
		if !reflect.DeepEqual(got.Objects, want.Objects) {
			t.Fatalf("%s's objects read back differ in their Go values (numbers must stay int64)", want.Environment)
		}
		if want.Import != nil && (got.Import == nil || got.Import.Bundle.Digest != want.Import.Bundle.Digest || got.Import.Bundle.Count() == 0) {
			t.Fatalf("%s's import was not read back whole", want.Environment)
		}
	}

	// What reading marked as used is done too.
	fresh.Wait()

	// Tampered with: an object changed behind the digest.
	key := keys[0]
	path := filepath.Join(cacheDir, key+".json")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	name := rendered[key].Environment
	testfs.WriteFile(t, path, strings.Replace(string(data), `"name":"`+name+`"`, `"name":"someone-else"`, 1))
	if b := (&Cache{Dir: cacheDir}).Get(key); b != nil {
		t.Fatal("a cache file changed behind its digest was used")
	}

	// A folder others may write is not used: whoever writes there would
	// choose what allot applies.
	if err := os.Chmod(cacheDir, 0o777); err != nil {
		t.Fatal(err)
	}
	if b := (&Cache{Dir: cacheDir}).Get(keys[1]); b != nil {
		t.Fatal("a bundle was read from a cache folder everyone may write")
	}
	if err := os.Chmod(cacheDir, 0o700); err != nil {
		t.Fatal(err)
	}

	// Not used for longer than MaxAge: removed at the end of a render.
	old := time.Now().Add(-2 * time.Hour)
	other := filepath.Join(cacheDir, keys[1]+".json")
	if err := os.Chtimes(other, old, old); err != nil {
		t.Fatal(err)
	}
	// A file a process died writing goes the same way.
	leftover := filepath.Join(cacheDir, ".tmp-123")
	testfs.WriteFile(t, leftover, "{")
	if err := os.Chtimes(leftover, old, old); err != nil {
		t.Fatal(err)
	}
	pruner := &Cache{Dir: cacheDir, MaxAge: time.Hour}
	pruner.Done()
	pruner.Wait()
	if _, err := os.Stat(other); !os.IsNotExist(err) {
		t.Fatalf("a cache file unused for two hours was kept with MaxAge 1h: %v", err)
	}
	if _, err := os.Stat(leftover); !os.IsNotExist(err) {
		t.Fatalf("a half-written file two hours old was kept with MaxAge 1h: %v", err)
	}
}
