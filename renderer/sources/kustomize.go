package sources

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"sigs.k8s.io/kustomize/api/konfig"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// Limits on the repository Kustomize copies into memory.
const (
	// MaxKustomizeFiles is the most files Kustomize copies from a repository.
	MaxKustomizeFiles = 10000
	// MaxKustomizeBytes is the most bytes Kustomize copies from a repository.
	MaxKustomizeBytes = 64 << 20
)

// Errors a kustomization is refused with.
var (
	// ErrRemoteResource is wrapped by errors for kustomizations that refer
	// to remote bases, resources or files (URLs or git repositories).
	ErrRemoteResource = errors.New("remote resources are not allowed")
	// ErrOutsideRepository is wrapped by errors for kustomizations that
	// refer to files outside the repository.
	ErrOutsideRepository = errors.New("path leaves the repository")
	// ErrHelmInKustomize is wrapped by errors for kustomizations that
	// inflate Helm charts (helmCharts).
	ErrHelmInKustomize = errors.New("helm charts inside kustomizations are not supported")
)

// Kustomize builds the kustomization in directory dir of fsys, which should
// be the whole repository so that overlays can refer to bases such as
// ../base, and returns the objects in the order kustomize emits them (the
// depth-first order of the kustomizations' resources).
//
// The repository is copied into an in-memory file system first, so a
// kustomization cannot read anything outside it. The copy leaves out .git
// directories and symlinks that leave the repository or name directories.
// Remote bases and files, and Helm charts, are refused before kustomize
// runs; a path that leaves the repository is refused with a clear error.
//
// Every YAML file kustomize reads is refused if it uses anchors or aliases,
// the YAML it reads in all is bounded by what budget has left, and the
// objects it builds are charged to budget.
//
// Each Object's Origin is "kustomization <dir>".
func Kustomize(fsys fs.FS, dir string, budget *Budget) ([]Object, error) {
	return kustomize(fsys, dir, budget, treeLimits{
		maxFiles:     MaxKustomizeFiles,
		maxBytes:     MaxKustomizeBytes,
		maxFileBytes: MaxKustomizeBytes,
	})
}

func kustomize(fsys fs.FS, dir string, budget *Budget, lim treeLimits) ([]Object, error) {
	if !fs.ValidPath(dir) {
		return nil, fmt.Errorf("kustomization %s: %q is not a clean relative path inside the repository", dir, dir)
	}
	files, err := readTree(fsys, ".", lim, treeFilter{
		skipDir:      func(rel string, _ fs.FileInfo) bool { return path.Base(rel) == ".git" },
		skipBadLinks: true,
	})
	if err != nil {
		return nil, fmt.Errorf("kustomization %s: copy repository: %w", dir, err)
	}
	mem := &boundedFS{FileSystem: filesys.MakeFsInMemory(), budget: budget}
	for _, f := range files {
		if err := mem.WriteFile("/"+f.rel, f.data); err != nil {
			return nil, fmt.Errorf("kustomization %s: copy %s: %w", dir, f.rel, err)
		}
	}

	if kustomizationFile(mem, dir) == "" {
		return nil, fmt.Errorf("kustomization %s: the directory holds none of %s; point the source at a kustomization directory",
			dir, strings.Join(konfig.RecognizedKustomizationFileNames(), ", "))
	}
	if err := checkKustomization(mem, dir, map[string]bool{}, budget); err != nil {
		return nil, fmt.Errorf("kustomization %s: %w", dir, err)
	}

	opts := krusty.MakeDefaultOptions()
	// None lets overlays use files of other directories (../common/patch.yaml);
	// the in-memory file system already keeps everything inside the repository.
	opts.LoadRestrictions = types.LoadRestrictionsNone
	opts.PluginConfig = types.DisabledPluginConfig()
	opts.AddManagedbyLabel = false
	resources, err := krusty.MakeKustomizer(opts).Run(mem, path.Join("/", dir))
	if mem.err != nil {
		err = mem.err // kustomize may report it less clearly
	}
	if err != nil {
		return nil, fmt.Errorf("kustomization %s: %w", dir, err)
	}

	origin := "kustomization " + dir
	objs := make([]Object, 0, resources.Size())
	for _, r := range resources.Resources() {
		data, err := r.MarshalJSON()
		if err != nil {
			return nil, fmt.Errorf("kustomization %s: %s: %w", dir, r.CurId(), err)
		}
		if err := budget.charge(len(data)); err != nil {
			return nil, fmt.Errorf("kustomization %s: %w", dir, err)
		}
		m := map[string]any{}
		if err := utiljson.Unmarshal(data, &m); err != nil {
			return nil, fmt.Errorf("kustomization %s: %s: %w", dir, r.CurId(), err)
		}
		objs = append(objs, Object{Object: &unstructured.Unstructured{Object: m}, Origin: origin})
	}
	return objs, nil
}

// checkKustomization refuses, in the kustomization of dir and those it
// refers to, what kustomize would fetch from outside the repository: URLs
// and git repositories, which it would download, and paths that leave the
// repository. Helm charts are refused too. Kustomize reports everything else
// (a missing file, a malformed patch) itself. The deprecated fields of each
// kustomization are noted on budget as warnings naming its file, which
// kustomize itself prints on stderr without one.
func checkKustomization(mem filesys.FileSystem, dir string, seen map[string]bool, budget *Budget) error {
	if seen[dir] {
		return nil
	}
	seen[dir] = true

	file := kustomizationFile(mem, dir)
	if file == "" {
		return nil // a directory of plain resources, or kustomize says what is missing
	}
	data, err := mem.ReadFile("/" + file)
	if err != nil {
		return err // names the file
	}
	var k types.Kustomization
	if err := k.Unmarshal(data); err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	if msgs := k.CheckDeprecatedFields(); msgs != nil {
		for _, msg := range *msgs {
			budget.warn(Warning{File: file, Message: strings.TrimPrefix(msg, "# Warning: ")})
		}
	}
	k.FixKustomization()

	if len(k.HelmCharts) > 0 || k.HelmGlobals != nil {
		return fmt.Errorf("%s: %w; render the chart as a Helm source of the environment instead", file, ErrHelmInKustomize)
	}

	check := func(field, entry string) (string, error) {
		entry = strings.TrimSpace(entry)
		switch {
		case entry == "" || strings.Contains(entry, "\n"):
			return "", nil // inline content, not a path
		case looksRemote(entry):
			return "", fmt.Errorf("%s: %s entry %q: %w; copy it into the repository and refer to it by a relative path", file, field, entry, ErrRemoteResource)
		case path.IsAbs(entry):
			return "", fmt.Errorf("%s: %s entry %q: %w: absolute paths are not allowed, use a path relative to %s", file, field, entry, ErrOutsideRepository, dir)
		}
		target := path.Join(dir, entry)
		if target == ".." || strings.HasPrefix(target, "../") {
			return "", fmt.Errorf("%s: %s entry %q: %w; only files of the repository can be used", file, field, entry, ErrOutsideRepository)
		}
		return target, nil
	}
	// Entries that may name another kustomization, which is checked in turn.
	type field struct {
		name    string
		entries []string
	}
	for _, f := range []field{
		{"resources", k.Resources},
		{"components", k.Components},
		{"generators", k.Generators},
		{"transformers", k.Transformers},
		{"validators", k.Validators},
	} {
		for _, entry := range f.entries {
			target, err := check(f.name, entry)
			if err != nil {
				return err
			}
			if target != "" && mem.IsDir("/"+target) {
				if err := checkKustomization(mem, target, seen, budget); err != nil {
					return err
				}
			}
		}
	}

	// Entries that name files.
	files := []field{
		{"crds", k.Crds},
		{"configurations", k.Configurations},
		{"openapi", []string{k.OpenAPI["path"]}},
	}
	// Kustomize still applies the deprecated patch fields, so they are checked too.
	for _, p := range k.PatchesStrategicMerge { //nolint:staticcheck // deprecated but still applied
		files = append(files, field{"patchesStrategicMerge", []string{string(p)}})
	}
	for _, p := range k.Patches {
		files = append(files, field{"patches", []string{p.Path}})
	}
	for _, p := range k.PatchesJson6902 { //nolint:staticcheck // deprecated but still applied
		files = append(files, field{"patchesJson6902", []string{p.Path}})
	}
	for _, r := range k.Replacements {
		files = append(files, field{"replacements", []string{r.Path}})
	}
	for _, g := range k.ConfigMapGenerator {
		files = append(files, field{"configMapGenerator", generatorFiles(g.GeneratorArgs)})
	}
	for _, g := range k.SecretGenerator {
		files = append(files, field{"secretGenerator", generatorFiles(g.GeneratorArgs)})
	}
	for _, f := range files {
		for _, entry := range f.entries {
			if _, err := check(f.name, entry); err != nil {
				return err
			}
		}
	}
	return nil
}

// IsKustomizeWarning reports whether line is one of the warnings kustomize
// prints on stderr about a deprecated kustomization field, which Kustomize
// notes, with the file, on its budget.
func IsKustomizeWarning(line string) bool {
	all := types.Kustomization{
		Bases: []string{""}, CommonLabels: map[string]string{}, ImageTags: []types.Image{}, //nolint:staticcheck // deprecated: the point
		PatchesJson6902: []types.Patch{}, PatchesStrategicMerge: []types.PatchStrategicMerge{}, Vars: []types.Var{}, //nolint:staticcheck // deprecated: the point
	}
	msgs := all.CheckDeprecatedFields()
	return msgs != nil && slices.Contains(*msgs, strings.TrimSpace(line))
}

// kustomizationFile returns the kustomization file of dir, or "" if it has none.
func kustomizationFile(mem filesys.FileSystem, dir string) string {
	for _, name := range konfig.RecognizedKustomizationFileNames() {
		if p := path.Join(dir, name); mem.Exists("/" + p) {
			return p
		}
	}
	return ""
}

// generatorFiles returns the paths a generator reads: its env files and
// its file sources, which are "path" or "key=path".
func generatorFiles(g types.GeneratorArgs) []string {
	paths := append([]string{g.EnvSource}, g.EnvSources...)
	for _, src := range g.FileSources {
		if _, p, ok := strings.Cut(src, "="); ok {
			src = p
		}
		paths = append(paths, src)
	}
	return paths
}

// looksRemote reports whether kustomize would treat entry as a URL to
// download or a git repository to clone. It errs on the side of caution:
// any scheme, a github.com shorthand and the user@host:path form count.
func looksRemote(entry string) bool {
	lower := strings.ToLower(entry)
	lower = strings.TrimPrefix(lower, "git::")
	return strings.Contains(lower, "://") ||
		strings.HasPrefix(lower, "github.com/") ||
		strings.HasPrefix(lower, "github.com:") ||
		hasGitUser(lower)
}

// hasGitUser reports whether s starts with "user@" as in git@github.com:org/repo.
func hasGitUser(s string) bool {
	user, _, ok := strings.Cut(s, "@")
	if !ok || user == "" || !isLetter(user[0]) {
		return false
	}
	for _, c := range []byte(user) {
		if ok := isLetter(c) || '0' <= c && c <= '9' || c == '-'; !ok {
			return false
		}
	}
	return true
}

func isLetter(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}

// boundedFS refuses YAML anchors and aliases in every YAML file kustomize
// reads (kustomizations, resources, patches, generator files), so that a
// small file cannot expand into gigabytes inside kustomize, and fails once
// kustomize has read more YAML than budget leaves room for. The first
// refusal is kept in err, because kustomize wraps errors in its own words.
type boundedFS struct {
	filesys.FileSystem
	budget *Budget
	read   int64 // bytes of YAML read
	docs   int   // YAML documents read, counted by their separators
	err    error
}

// ReadFile implements filesys.FileSystem.
func (b *boundedFS) ReadFile(name string) ([]byte, error) {
	data, err := b.FileSystem.ReadFile(name)
	if err != nil || !isYAMLFile(name) {
		return data, err
	}
	rel := strings.TrimPrefix(name, "/")
	b.read += int64(len(data))
	b.docs += 1 + bytes.Count(data, []byte("\n---"))
	if err := b.budget.checkText(b.read); err != nil {
		return nil, b.fail(fmt.Errorf("reading %s: %w", rel, err))
	}
	// Kustomize adds each resource in time proportional to those before
	// it, so documents are bounded before it sees them, not only objects
	// after: no more than twice the objects left, which leaves room for
	// patches and kustomization files.
	if err := b.budget.checkDocuments(b.docs); err != nil {
		return nil, b.fail(fmt.Errorf("reading %s: %w", rel, err))
	}
	if err := refuseAliases(rel, data, b.budget); err != nil {
		return nil, b.fail(err)
	}
	return data, nil
}

func (b *boundedFS) fail(err error) error {
	if b.err == nil {
		b.err = err
	}
	return err
}

// isYAMLFile reports whether a file is YAML by its name: *.yaml, *.yml,
// *.json, or a kustomization file, which may have no extension.
func isYAMLFile(name string) bool {
	return isManifestFile(name) || slices.Contains(konfig.RecognizedKustomizationFileNames(), path.Base(name))
}
