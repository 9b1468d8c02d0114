package renderer

import (
	"bytes"
	"crypto/sha256"
	"debug/elf"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	utiljson "k8s.io/apimachinery/pkg/util/json"

	"github.com/allot-dev/allot/internal/worktree"
	"github.com/allot-dev/allot/schemas/load"
)

// Cache keeps rendered bundles by the digest of everything their render
// read: the program that renders (its Go build ID, which changes with any
// change to its code or its built-in templates), every file of the
// repository except the other requests, the request itself and the cluster.
// A request's render reads no other request, so a commit that changes one
// request renders that one alone, and a pass at a commit already rendered
// renders nothing. Charts from remote repositories are pinned by version,
// as in the chart cache.
//
// The last render's bundles are kept in memory; with Dir set they are also
// kept on disk, one file per bundle, so that a process started later (a
// CLI or cron run) finds them. A file is trusted only if its bundle digests
// to what it claims, and files not used for MaxAge are removed. Writing
// files, marking them used and removing old ones happen in the background,
// off the pass's way: creating a file took up to a millisecond on the
// bench's disk, 0.4–0.9 s for a fleet of 1,000 renders. Wait waits for that
// work. A Cache is safe for concurrent use; a nil Cache keeps nothing.
type Cache struct {
	// Dir, when set, keeps the bundles on disk too.
	Dir string
	// MaxAge removes files not used for this long; 0 means DefaultCacheMaxAge.
	MaxAge time.Duration

	mu   sync.Mutex
	mem  map[string]*Bundle
	next map[string]*Bundle

	diskOnce sync.Once
	diskOK   bool

	// The disk work not done yet, and the writers doing it.
	work    sync.Mutex
	idle    *sync.Cond
	todo    []func()
	writers int
}

// cacheWriters bounds the goroutines doing a cache's disk work.
const cacheWriters = 2

// DefaultCacheMaxAge is how long a rendered bundle nobody uses stays on disk.
const DefaultCacheMaxAge = 7 * 24 * time.Hour

// maxCachedBytes bounds the one file of a cached bundle read back.
const maxCachedBytes = 64 << 20

// Keys returns the cache key of each target's render of repo, whose
// working copy is dir, in the order of targets. It returns nil, and
// nothing is cached, when the running program cannot name its own build.
func (c *Cache) Keys(dir string, repo *load.Repository, targets []Target) ([]string, error) {
	if c == nil || executableID() == "" {
		return nil, nil
	}
	requests := map[string]bool{}
	for _, ef := range repo.Environments {
		requests[ef.Doc.File] = true
	}
	shared, err := filesDigest(dir, requests)
	if err != nil {
		return nil, err
	}
	keys := make([]string, len(targets))
	for i, t := range targets {
		env, err := json.Marshal(t.Env.Environment)
		if err != nil {
			return nil, err
		}
		cluster, err := json.Marshal(t.Cluster)
		if err != nil {
			return nil, err
		}
		h := sha256.New()
		for _, part := range [][]byte{[]byte(executableID()), []byte(shared), []byte(t.Env.Doc.File), env, cluster} {
			// Length-prefixed, so that no two inputs run together alike.
			_ = binary.Write(h, binary.BigEndian, uint64(len(part)))
			h.Write(part)
		}
		keys[i] = hex.EncodeToString(h.Sum(nil))
	}
	return keys, nil
}

// Get returns the bundle kept under key, or nil. What it returns is shared:
// callers must not change it.
func (c *Cache) Get(key string) *Bundle {
	if c == nil || key == "" {
		return nil
	}
	c.mu.Lock()
	b := c.mem[key]
	c.mu.Unlock()
	if b == nil && c.disk() {
		b = c.read(key)
	}
	if b != nil {
		c.keep(key, b)
	}
	return b
}

// Put keeps b under key.
func (c *Cache) Put(key string, b *Bundle) {
	if c == nil || key == "" || b == nil {
		return
	}
	c.keep(key, b)
	if c.disk() {
		// A cache that cannot be written only costs a render next time.
		c.later(func() { _ = c.write(key, b) })
	}
}

// later has fn done in the background.
func (c *Cache) later(fn func()) {
	c.work.Lock()
	defer c.work.Unlock()
	c.todo = append(c.todo, fn)
	if c.writers < cacheWriters {
		c.writers++
		go c.drain()
	}
}

// drain does the disk work until there is none.
func (c *Cache) drain() {
	for {
		c.work.Lock()
		if len(c.todo) == 0 {
			c.writers--
			if c.writers == 0 && c.idle != nil {
				c.idle.Broadcast()
			}
			c.work.Unlock()
			return
		}
		fn := c.todo[0]
		c.todo[0] = nil
		c.todo = c.todo[1:]
		c.work.Unlock()
		fn()
	}
}

// Wait returns once the disk work asked for so far is done: a process
// that is about to exit waits, so that the next one finds the files.
func (c *Cache) Wait() {
	if c == nil {
		return
	}
	c.work.Lock()
	defer c.work.Unlock()
	if c.idle == nil {
		c.idle = sync.NewCond(&c.work)
	}
	for c.writers > 0 {
		c.idle.Wait()
	}
}

// keep notes that the render being made uses b.
func (c *Cache) keep(key string, b *Bundle) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.next == nil {
		c.next = map[string]*Bundle{}
	}
	c.next[key] = b
}

// Done ends a render: the bundles it used are what memory keeps, and files
// on disk not used for MaxAge are removed, in the background.
func (c *Cache) Done() {
	if c == nil {
		return
	}
	c.mu.Lock()
	c.mem, c.next = c.next, nil
	c.mu.Unlock()
	if c.disk() {
		c.later(c.prune)
	}
}

// prune removes the files not used for MaxAge, and files left half
// written as long ago, but for those of the last render, whose marking as
// used may not be done yet.
func (c *Cache) prune() {
	maxAge := c.MaxAge
	if maxAge <= 0 {
		maxAge = DefaultCacheMaxAge
	}
	entries, err := os.ReadDir(c.Dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		key, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok && !strings.HasPrefix(e.Name(), ".tmp-") {
			continue
		}
		// A temporary file is one a process died writing.
		c.mu.Lock()
		used := ok && c.mem[key] != nil
		c.mu.Unlock()
		if info, err := e.Info(); err == nil && !used && time.Since(info.ModTime()) > maxAge {
			_ = os.Remove(filepath.Join(c.Dir, e.Name()))
		}
	}
}

// storedBundle is a bundle as a cache file holds it: the bundle's own JSON
// leaves out its objects.
type storedBundle struct {
	Bundle  *Bundle                     `json:"bundle"`
	Objects map[Phase][]json.RawMessage `json:"objects"`
	Inside  *storedBundle               `json:"inside,omitempty"`
}

func stored(b *Bundle) *storedBundle {
	s := &storedBundle{Bundle: b, Objects: map[Phase][]json.RawMessage{}}
	for p, objs := range b.Objects {
		for _, o := range objs {
			s.Objects[p] = append(s.Objects[p], o.raw)
		}
	}
	if b.Import != nil && b.Import.Bundle != nil {
		s.Inside = stored(b.Import.Bundle)
	}
	return s
}

func (s *storedBundle) bundle() (*Bundle, error) {
	if s == nil || s.Bundle == nil {
		return nil, errors.New("no bundle")
	}
	b := s.Bundle
	b.Objects = map[Phase][]*Object{}
	for p, objs := range s.Objects {
		b.Objects[p] = make([]*Object, 0, len(objs))
		for _, raw := range objs {
			o, err := objectFromJSON(raw)
			if err != nil {
				return nil, fmt.Errorf("phase %s: %w", p, err)
			}
			b.Objects[p] = append(b.Objects[p], o)
		}
	}
	if b.Import != nil {
		inside, err := s.Inside.bundle()
		if err != nil {
			return nil, fmt.Errorf("import: %w", err)
		}
		b.Import.Bundle = inside
	}
	return b, nil
}

// disk reports whether Dir may keep bundles: it is made with mode 0700 if
// missing, and used only if it is a folder (not a link) of this user that
// no one else may write, since whoever can write there chooses what allot
// applies. A cache folder someone else made (in a shared /tmp, say) is not
// used.
func (c *Cache) disk() bool {
	c.diskOnce.Do(func() {
		if c.Dir == "" || os.MkdirAll(c.Dir, 0o700) != nil {
			return
		}
		info, err := os.Lstat(c.Dir)
		if err != nil || !info.IsDir() || info.Mode().Perm()&0o022 != 0 {
			return
		}
		if st, ok := info.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Getuid() {
			return
		}
		c.diskOK = true
	})
	return c.diskOK
}

func (c *Cache) path(key string) string { return filepath.Join(c.Dir, key+".json") }

func (c *Cache) write(key string, b *Bundle) error {
	data, err := json.Marshal(stored(b))
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(c.Dir, ".tmp-*")
	if err != nil {
		return err
	}
	// After the rename there is nothing left to remove.
	defer func() { _ = os.Remove(f.Name()) }()
	if _, err := f.Write(data); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), c.path(key))
}

// read returns the bundle of a cache file, or nil when there is none or it
// is not whole: its digest is computed again and must be what it says.
func (c *Cache) read(key string) *Bundle {
	f, err := os.Open(c.path(key))
	if err != nil {
		return nil
	}
	defer f.Close()
	// Read in one buffer of the file's size: a fleet's files read through
	// a growing buffer were three times their size in garbage.
	info, err := f.Stat()
	if err != nil || info.Size() > maxCachedBytes {
		return nil
	}
	data := make([]byte, info.Size())
	if _, err := io.ReadFull(f, data); err != nil {
		return nil
	}
	var s storedBundle
	// The objects stay JSON; an Object decodes its body when it is used.
	if err := utiljson.Unmarshal(data, &s); err != nil {
		return nil
	}
	b, err := s.bundle()
	if err != nil {
		return nil
	}
	claimed := b.Digest
	if err := b.seal(); err != nil || b.Digest != claimed || claimed == "" {
		return nil
	}
	// Used now: not removed for MaxAge.
	now := time.Now()
	c.later(func() { _ = os.Chtimes(c.path(key), now, now) })
	return b
}

// filesDigest digests every file under dir but .git and the files in
// skip, by path and content.
func filesDigest(dir string, skip map[string]bool) (string, error) {
	h := sha256.New()
	var paths []string
	err := worktree.Walk(dir, func(_, rel string, d fs.DirEntry) error {
		if !d.IsDir() && !skip[rel] {
			paths = append(paths, rel)
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	sort.Strings(paths)
	for _, rel := range paths {
		p := filepath.Join(dir, filepath.FromSlash(rel))
		info, err := os.Lstat(p)
		if err != nil {
			return "", err
		}
		_ = binary.Write(h, binary.BigEndian, uint64(len(rel)))
		h.Write([]byte(rel))
		_ = binary.Write(h, binary.BigEndian, uint32(info.Mode()))
		switch {
		case info.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return "", err
			}
			_ = binary.Write(h, binary.BigEndian, uint64(len(target)))
			h.Write([]byte(target))
		case info.Mode().IsRegular():
			// Streamed: a large file (a chart archive) costs no memory.
			_ = binary.Write(h, binary.BigEndian, uint64(info.Size()))
			if err := hashFile(h, p); err != nil {
				return "", err
			}
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// hashFile writes the content of the file at p to h.
func hashFile(h io.Writer, p string) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer func() { _ = f.Close() }()
	_, err = io.Copy(h, f)
	return err
}

var (
	buildIDOnce sync.Once
	buildID     string
)

// executableID is the Go build ID of the running program, empty when it
// cannot be read (then nothing is cached: a program that cannot name its
// build cannot tell its renders from another build's).
func executableID() string {
	buildIDOnce.Do(func() {
		exe, err := os.Executable()
		if err != nil {
			return
		}
		f, err := elf.Open(exe)
		if err != nil {
			return
		}
		defer func() { _ = f.Close() }()
		sec := f.Section(".note.go.buildid")
		if sec == nil {
			return
		}
		data, err := sec.Data()
		if err != nil || len(data) < 16 {
			return
		}
		// An ELF note: name size, description size, type, then the name
		// "Go" padded to 4 bytes and the build ID.
		nameSize := f.ByteOrder.Uint32(data[0:4])
		descSize := f.ByteOrder.Uint32(data[4:8])
		start := 12 + (int(nameSize)+3)&^3
		if !bytes.HasPrefix(data[12:], []byte("Go\x00")) || start+int(descSize) > len(data) {
			return
		}
		buildID = string(data[start : start+int(descSize)])
	})
	return buildID
}
