package sources

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// chartCache keeps chart archives on disk. Archives live in
// blobs/sha256/<digest>.tgz; index/<key>.json maps a repository, chart and
// version to the digest of its archive, key being the sha256 of the three.
// Files are written to a temporary name and renamed, so concurrent renders
// never see half a file.
type chartCache struct {
	dir string // empty disables the cache
}

// cacheEntry is the content of an index file.
type cacheEntry struct {
	Repository string `json:"repository"`
	Chart      string `json:"chart"`
	Version    string `json:"version"`
	Digest     string `json:"digest"`
}

// get returns the cached archive of c. Anything amiss (no entry, a missing
// or corrupted archive) is a miss, so that the chart is fetched again.
func (cc chartCache) get(c Chart) ([]byte, bool) {
	if cc.dir == "" {
		return nil, false
	}
	data, err := os.ReadFile(cc.indexPath(c))
	if err != nil {
		return nil, false
	}
	var e cacheEntry
	if err := json.Unmarshal(data, &e); err != nil || e != newCacheEntry(c, e.Digest) {
		return nil, false
	}
	archive, err := os.ReadFile(cc.blobPath(e.Digest))
	if err != nil || sha256Hex(archive) != e.Digest {
		return nil, false
	}
	return archive, true
}

// put stores archive as the archive of c.
func (cc chartCache) put(c Chart, archive []byte) error {
	if cc.dir == "" {
		return nil
	}
	digest := sha256Hex(archive)
	if err := writeFileAtomic(cc.blobPath(digest), archive); err != nil {
		return err
	}
	entry, err := json.Marshal(newCacheEntry(c, digest))
	if err != nil {
		return err
	}
	return writeFileAtomic(cc.indexPath(c), entry)
}

func newCacheEntry(c Chart, digest string) cacheEntry {
	return cacheEntry{Repository: c.Repository, Chart: c.Name, Version: c.Version, Digest: digest}
}

func (cc chartCache) indexPath(c Chart) string {
	key := sha256Hex([]byte(c.Repository + "\x00" + c.Name + "\x00" + c.Version))
	return filepath.Join(cc.dir, "index", key+".json")
}

func (cc chartCache) blobPath(digest string) string {
	return filepath.Join(cc.dir, "blobs", "sha256", digest+".tgz")
}

func writeFileAtomic(name string, data []byte) error {
	dir := filepath.Dir(name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return err
	}
	defer func() { _ = os.Remove(f.Name()) }() // fails harmlessly once renamed
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", f.Name(), err)
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Chmod(f.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(f.Name(), name)
}

// Seed puts archive into the cache as remote chart c, so that rendering c
// needs no download: for a chart kept elsewhere (a mirror, or the source
// release of a chart, as allot's tests and demo do with vcluster's). The
// archive must hold chart c at its version. Seed without a CacheDir is an
// error.
func (h *Helm) Seed(c Chart, archive []byte) error {
	if h.CacheDir == "" {
		return fmt.Errorf("seed %s: the Helm renderer has no cache folder", c)
	}
	if c.FS != nil || c.Repository == "" || c.Name == "" || c.Version == "" {
		return fmt.Errorf("seed %s: only a remote chart with repository, name and version can be seeded", c)
	}
	if _, _, err := h.loadArchive(c, archive); err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	return chartCache{dir: h.CacheDir}.put(c, archive)
}
