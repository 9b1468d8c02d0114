package sources

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"
)

// Limits on a directory of plain manifests.
const (
	// MaxManifestFileBytes is the largest manifest file Manifests reads.
	MaxManifestFileBytes = 8 << 20
	// MaxManifestFiles is the most manifest files Manifests reads from one directory.
	MaxManifestFiles = 2000
	// MaxManifestBytes is the most bytes Manifests reads from one directory.
	MaxManifestBytes = 64 << 20
)

// Manifests reads every *.yaml, *.yml and *.json file below dir in fsys, in
// lexical order of their paths, and returns the objects they hold in file
// and document order. Multi-document YAML files are split, empty documents
// are skipped and list kinds such as v1 List are expanded into their items.
// Hidden files and directories (a name starting with ".") are skipped.
//
// Every file is refused if it uses YAML anchors or aliases, and the objects
// are charged to budget as they are decoded.
//
// Each Object's Origin is the file's path in fsys. Objects are returned as
// written: no namespace is defaulted and nothing is added.
func Manifests(fsys fs.FS, dir string, budget *Budget) ([]Object, error) {
	return manifests(fsys, dir, budget, treeLimits{
		maxFiles:     MaxManifestFiles,
		maxBytes:     MaxManifestBytes,
		maxFileBytes: MaxManifestFileBytes,
	})
}

func manifests(fsys fs.FS, dir string, budget *Budget, lim treeLimits) ([]Object, error) {
	files, err := readTree(fsys, dir, lim, treeFilter{
		skipDir: func(rel string, _ fs.FileInfo) bool {
			return strings.HasPrefix(path.Base(rel), ".")
		},
		skipFile: func(rel string, _ fs.FileInfo) bool {
			return strings.HasPrefix(path.Base(rel), ".") || !isManifestFile(rel)
		},
	})
	if err != nil {
		return nil, fmt.Errorf("read manifests in %s: %w", dir, err)
	}

	var objs []Object
	for _, f := range files {
		name := path.Join(dir, f.rel)
		docs, err := splitDocuments(f.data)
		if err != nil {
			return nil, fmt.Errorf("manifest %s: %w; fix the YAML", name, err)
		}
		for i, doc := range docs {
			if err := refuseAliases(fmt.Sprintf("manifest %s, document %d", name, i+1), doc, budget); err != nil {
				return nil, err
			}
			us, err := decodeDocument(doc, budget)
			var be *BudgetError
			if errors.As(err, &be) {
				return nil, fmt.Errorf("manifests in %s (reached at %s, document %d): %w", dir, name, i+1, err)
			}
			if err != nil {
				return nil, fmt.Errorf("manifest %s, document %d: %w; fix the document or move it out of %s", name, i+1, err, dir)
			}
			for _, u := range us {
				objs = append(objs, Object{Object: u, Origin: name})
			}
		}
	}
	return objs, nil
}

func isManifestFile(name string) bool {
	switch strings.ToLower(path.Ext(name)) {
	case ".yaml", ".yml", ".json":
		return true
	}
	return false
}
