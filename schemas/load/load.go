package load

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/allot-dev/allot/schemas"
)

// Default limits. A request is a few dozen lines; these leave room for large
// platforms while keeping a hostile repository from exhausting memory.
const (
	DefaultMaxFileSize = 256 << 10
	DefaultMaxFiles    = 10000
)

// The fixed places of a requests repository.
const (
	PlatformPath    = "allot.yaml"
	TemplatesDir    = "templates"
	TemplateName    = "template.yaml"
	EnvironmentsDir = "environments"
)

// IsPlatformFile reports whether a slash-separated path of the repository is
// the platform's own: allot.yaml or anything under templates/. These choose
// clusters, credentials, policy and templates, so they are trusted only from
// the base branch.
func IsPlatformFile(p string) bool {
	p = path.Clean(p)
	return p == PlatformPath || p == TemplatesDir || strings.HasPrefix(p, TemplatesDir+"/")
}

// Options bounds what Load reads.
type Options struct {
	// MaxFileSize is the largest YAML file read, in bytes.
	MaxFileSize int64
	// MaxFiles is the most environment files read.
	MaxFiles int
	// Builtin holds the built-in templates as <type>/template.yaml; the
	// repository's templates/ override them.
	Builtin fs.FS
	// PlatformOnly reads allot.yaml alone, for what needs only the
	// platform (its clusters, say): templates and requests are left out.
	PlatformOnly bool
}

// Repository is a requests repository as read from disk.
type Repository struct {
	// Root is the directory the repository was read from.
	Root         string
	Platform     *PlatformFile
	Templates    map[string]*TemplateFile
	Environments []*EnvironmentFile
	// Problems are what made files unreadable or invalid against their schema;
	// those files are left out of Platform, Templates and Environments.
	Problems []schemas.Problem
}

// PlatformFile is allot.yaml.
type PlatformFile struct {
	Doc      *Document
	Platform schemas.Platform
}

// TemplateFile is one EnvironmentTemplate, from the repository or built in.
type TemplateFile struct {
	Doc      *Document
	Template schemas.EnvironmentTemplate
	// Builtin is true for a template that ships with allot.
	Builtin bool
}

// EnvironmentFile is one request.
type EnvironmentFile struct {
	Doc         *Document
	Environment schemas.Environment
}

// Load reads the requests repository at root. An error means the repository
// itself cannot be read; problems with its files are in Repository.Problems.
func Load(root string, opts Options) (*Repository, error) {
	if opts.MaxFileSize <= 0 {
		opts.MaxFileSize = DefaultMaxFileSize
	}
	if opts.MaxFiles <= 0 {
		opts.MaxFiles = DefaultMaxFiles
	}
	info, err := os.Stat(root)
	if err != nil {
		return nil, fmt.Errorf("read requests repository: %w", err)
	}
	if !info.IsDir() {
		return nil, fmt.Errorf("read requests repository: %s is not a directory", root)
	}
	v, err := schemas.DefaultValidator()
	if err != nil {
		return nil, err
	}
	// Every file is opened through an os.Root, so nothing outside root is
	// read even if a link appears while Load runs.
	fsRoot, err := os.OpenRoot(root)
	if err != nil {
		return nil, fmt.Errorf("read requests repository: %w", err)
	}
	defer fsRoot.Close()
	l := &loader{root: fsRoot, opts: opts, validator: v, repo: &Repository{Root: root, Templates: map[string]*TemplateFile{}}}
	l.platform()
	if opts.PlatformOnly {
		sortProblems(l.repo.Problems)
		return l.repo, nil
	}
	if err := l.builtinTemplates(); err != nil {
		return nil, err
	}
	l.templates()
	l.environments()
	sortProblems(l.repo.Problems)
	return l.repo, nil
}

type loader struct {
	root      *os.Root
	opts      Options
	validator *schemas.Validator
	repo      *Repository
}

func (l *loader) problem(p schemas.Problem) { l.repo.Problems = append(l.repo.Problems, p) }

// linkedFolder returns the outermost folder on the way to rel that is a
// symbolic link, or "" when there is none.
func (l *loader) linkedFolder(rel string) string {
	elems := strings.Split(rel, "/")
	for i := 1; i < len(elems); i++ {
		if dir := path.Join(elems[:i]...); l.isLink(dir) {
			return dir
		}
	}
	return ""
}

// isLink reports whether rel is a symbolic link.
func (l *loader) isLink(rel string) bool {
	info, err := l.root.Lstat(rel)
	return err == nil && info.Mode()&fs.ModeSymlink != 0
}

// linkProblem records that rel, a file or folder allot reads, is a
// symbolic link: followed, it could load files from outside the
// repository, or from a part of it that is reviewed by other people.
func (l *loader) linkProblem(rel string) {
	var msg string
	switch {
	case rel == PlatformPath:
		msg = PlatformPath + " must be a regular file"
	case rel == TemplatesDir || rel == EnvironmentsDir:
		msg = rel + "/ must be a real folder"
	case strings.HasPrefix(rel, TemplatesDir+"/"):
		msg = "templates must be real folders and files under " + TemplatesDir + "/"
	default:
		msg = "requests and their folders must be real files and folders under " + EnvironmentsDir + "/"
	}
	l.problem(schemas.Errorf(schemas.Position{File: rel}, schemas.RuleFile, "is a symbolic link; %s in the repository: replace the link with what it points to", msg))
}

// readFile opens a regular file of the repository without following links,
// neither the file itself nor a folder on the way to it.
func (l *loader) readFile(rel string) (*Document, bool) {
	if dir := l.linkedFolder(rel); dir != "" {
		l.linkProblem(dir)
		return nil, false
	}
	info, err := l.root.Lstat(rel)
	switch {
	case err != nil:
		l.problem(schemas.Errorf(schemas.Position{File: rel}, schemas.RuleFile, "cannot read the file: %v", unwrapPath(err)))
		return nil, false
	case info.Mode()&fs.ModeSymlink != 0:
		l.linkProblem(rel)
		return nil, false
	case info.IsDir():
		l.problem(schemas.Errorf(schemas.Position{File: rel}, schemas.RuleFile, "is a directory, but its name ends in .yaml; rename it or move the request file out of it"))
		return nil, false
	case !info.Mode().IsRegular():
		l.problem(schemas.Errorf(schemas.Position{File: rel}, schemas.RuleFile, "is not a regular file"))
		return nil, false
	}
	f, err := l.root.Open(rel)
	if err != nil {
		l.problem(schemas.Errorf(schemas.Position{File: rel}, schemas.RuleFile, "cannot read the file: %v", unwrapPath(err)))
		return nil, false
	}
	defer f.Close()
	doc, err := parse(rel, f, l.opts.MaxFileSize)
	if err != nil {
		l.fileProblem(rel, err)
		return nil, false
	}
	return doc, true
}

func (l *loader) fileProblem(rel string, err error) {
	var fe *fileError
	if errors.As(err, &fe) {
		l.problem(schemas.Errorf(schemas.Position{File: rel, Line: fe.line}, fe.rule, "%s", fe.msg))
		return
	}
	l.problem(schemas.Errorf(schemas.Position{File: rel}, schemas.RuleFile, "%v", err))
}

// decode checks a document against the schema of kind k and decodes it into
// out. It reports false, with the problems recorded, when the document does
// not match.
func (l *loader) decode(doc *Document, k schemas.Kind, out any) bool {
	if m, ok := doc.Value.(map[string]any); ok {
		if got, _ := m["kind"].(string); got != "" && got != string(k) {
			l.problem(schemas.Errorf(doc.Pos("kind"), schemas.RuleSchema, "kind is %q, but %s holds kind %s; move the file or fix its kind", got, place(k), k))
			return false
		}
	}
	errs := l.validator.Validate(k, doc.Value)
	for _, e := range errs {
		l.problem(schemas.Errorf(doc.Pos(e.Path...), schemas.RuleSchema, "%s", e.Message))
	}
	if len(errs) > 0 {
		return false
	}
	data, err := json.Marshal(doc.Value)
	if err != nil {
		l.problem(schemas.Errorf(doc.Pos(), schemas.RuleSchema, "%v", err))
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(out); err != nil {
		l.problem(schemas.Errorf(doc.Pos(), schemas.RuleSchema, "%v", err))
		return false
	}
	return true
}

func (l *loader) platform() {
	if _, err := l.root.Lstat(PlatformPath); errors.Is(err, fs.ErrNotExist) {
		return // validation says what a missing allot.yaml means
	}
	doc, ok := l.readFile(PlatformPath)
	if !ok {
		return
	}
	pf := &PlatformFile{Doc: doc}
	if l.decode(doc, schemas.KindPlatform, &pf.Platform) {
		l.repo.Platform = pf
	}
}

func (l *loader) builtinTemplates() error {
	if l.opts.Builtin == nil {
		return nil
	}
	entries, err := fs.ReadDir(l.opts.Builtin, ".")
	if err != nil {
		return fmt.Errorf("read built-in templates: %w", err)
	}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		name := path.Join(e.Name(), TemplateName)
		f, err := l.opts.Builtin.Open(name)
		if err != nil {
			continue
		}
		doc, err := parse("(built-in) "+name, f, l.opts.MaxFileSize)
		_ = f.Close() // embedded files close without error
		if err != nil {
			return fmt.Errorf("built-in template %s: %w", name, err)
		}
		tf := &TemplateFile{Doc: doc, Builtin: true}
		if !l.decode(doc, schemas.KindEnvironmentTemplate, &tf.Template) {
			return fmt.Errorf("built-in template %s does not match its schema", name)
		}
		l.repo.Templates[tf.Template.Metadata.Name] = tf
	}
	return nil
}

func (l *loader) templates() {
	if l.isLink(TemplatesDir) {
		// A linked templates/ would widen what is rendered with files
		// the repository does not hold.
		l.linkProblem(TemplatesDir)
		return
	}
	entries, err := fs.ReadDir(l.root.FS(), TemplatesDir)
	if errors.Is(err, fs.ErrNotExist) {
		return
	}
	if err != nil {
		l.problem(schemas.Errorf(schemas.Position{File: TemplatesDir}, schemas.RuleFile, "cannot read the directory: %v", unwrapPath(err)))
		return
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		if e.Type()&fs.ModeSymlink != 0 {
			l.linkProblem(path.Join(TemplatesDir, e.Name()))
			continue
		}
		if !e.IsDir() {
			continue
		}
		rel := path.Join(TemplatesDir, e.Name(), TemplateName)
		doc, ok := l.readFile(rel)
		if !ok {
			continue
		}
		tf := &TemplateFile{Doc: doc}
		if !l.decode(doc, schemas.KindEnvironmentTemplate, &tf.Template) {
			continue
		}
		if tf.Template.Metadata.Name != e.Name() {
			l.problem(schemas.Errorf(doc.Pos("metadata", "name"), schemas.RuleName, "template name %q does not match its directory %q; rename one so they agree", tf.Template.Metadata.Name, e.Name()))
			continue
		}
		l.repo.Templates[e.Name()] = tf
	}
}

func (l *loader) environments() {
	dir := EnvironmentsDir
	info, err := l.root.Lstat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return
	case err == nil && info.Mode()&fs.ModeSymlink != 0:
		l.linkProblem(dir)
		return
	}
	count := 0
	// fs.WalkDir does not follow links below dir, and the os.Root keeps
	// every read inside the repository.
	err = fs.WalkDir(l.root.FS(), dir, func(rel string, d fs.DirEntry, err error) error {
		if err != nil {
			l.problem(schemas.Errorf(schemas.Position{File: rel}, schemas.RuleFile, "cannot read: %v", unwrapPath(err)))
			return nil
		}
		name := d.Name()
		if strings.HasPrefix(name, ".") && rel != dir {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		isYAML := strings.HasSuffix(name, ".yaml") || strings.HasSuffix(name, ".yml")
		if d.IsDir() {
			if isYAML {
				l.problem(schemas.Errorf(schemas.Position{File: rel}, schemas.RuleFile, "is a directory, but its name ends in %s; rename it or move the request file out of it", path.Ext(name)))
				return filepath.SkipDir
			}
			return nil
		}
		if d.Type()&fs.ModeSymlink != 0 {
			l.linkProblem(rel)
			return nil
		}
		if !isYAML {
			return nil
		}
		count++
		if count > l.opts.MaxFiles {
			l.problem(schemas.Errorf(schemas.Position{File: EnvironmentsDir}, schemas.RuleFile, "holds more than %d request files; the rest were not read", l.opts.MaxFiles))
			return filepath.SkipAll
		}
		doc, ok := l.readFile(rel)
		if !ok {
			return nil
		}
		ef := &EnvironmentFile{Doc: doc}
		if l.decode(doc, schemas.KindEnvironment, &ef.Environment) {
			l.repo.Environments = append(l.repo.Environments, ef)
		}
		return nil
	})
	if err != nil {
		l.problem(schemas.Errorf(schemas.Position{File: EnvironmentsDir}, schemas.RuleFile, "cannot read: %v", err))
	}
	sort.Slice(l.repo.Environments, func(i, j int) bool {
		return l.repo.Environments[i].Doc.File < l.repo.Environments[j].Doc.File
	})
}

// place says where a kind lives in a requests repository.
func place(k schemas.Kind) string {
	switch k {
	case schemas.KindPlatform:
		return PlatformPath
	case schemas.KindEnvironmentTemplate:
		return TemplatesDir + "/<type>/" + TemplateName
	default:
		return "every file under " + EnvironmentsDir + "/"
	}
}

// unwrapPath drops the absolute path os errors carry; problems name the
// repository-relative file already.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

func sortProblems(ps []schemas.Problem) {
	sort.SliceStable(ps, func(i, j int) bool {
		a, b := ps[i], ps[j]
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Message < b.Message
	})
}
