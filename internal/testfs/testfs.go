package testfs

import (
	"os"
	"path/filepath"
	"testing"
)

// WriteFile writes content to path, making its folders; it fails the
// test on error.
func WriteFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// Write writes files, keyed by slash-separated paths relative to dir,
// under dir.
func Write(t testing.TB, dir string, files map[string]string) {
	t.Helper()
	for rel, content := range files {
		WriteFile(t, filepath.Join(dir, filepath.FromSlash(rel)), content)
	}
}

// Dir writes files into a new temporary folder, removed after the test,
// and returns the folder.
func Dir(t testing.TB, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	Write(t, dir, files)
	return dir
}
