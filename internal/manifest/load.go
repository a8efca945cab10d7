// Package manifest loads a release's Kubernetes manifests (files, directories
// and kustomizations) for a server-side-apply deploy, substitutes images,
// leaves HPA-managed replica counts alone and diffs live against desired
// objects. Every function is pure apart from reading the given paths.
package manifest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"sigs.k8s.io/kustomize/api/konfig"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	sigsyaml "sigs.k8s.io/yaml"
)

// Source is where an object came from.
type Source struct {
	// File is the path as given (relative paths stay relative), or the kustomization directory.
	File string
	// Line is the 1-based line where the YAML document starts (0 for kustomize output).
	Line int
	// Kustomization is true when File is a kustomization directory rendered in-process.
	Kustomization bool
}

// String renders the source as "k8s/deploy.yaml:12" or "k8s/overlay (kustomization)".
func (s Source) String() string {
	switch {
	case s.Kustomization:
		return s.File + " (kustomization)"
	case s.Line > 0:
		return s.File + ":" + strconv.Itoa(s.Line)
	default:
		return s.File
	}
}

// Object is one manifest object and its source.
type Object struct {
	*unstructured.Unstructured
	// Source is the file and line (or kustomization) the object was read from.
	Source Source
}

// Error is a problem in one input at a position.
type Error struct {
	// File is the path as given ("" for a problem with no single input).
	File string
	// Line is the 1-based line of the problem (0 when it has none).
	Line int
	// Msg says what is wrong.
	Msg string
}

// Error renders "file:line: msg", or "file: msg" when Line is 0.
func (e *Error) Error() string {
	switch {
	case e.File == "" && e.Line == 0:
		return e.Msg
	case e.File == "":
		return fmt.Sprintf("line %d: %s", e.Line, e.Msg)
	case e.Line == 0:
		return e.File + ": " + e.Msg
	default:
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
}

// manifestExts are the extensions `kubectl apply -f dir` reads.
var manifestExts = map[string]bool{".yaml": true, ".yml": true, ".json": true}

// Load reads every path in order: a file (.yaml, .yml, .json; multi-document
// YAML; a List is expanded into its items), a directory (its *.yaml, *.yml and
// *.json files sorted by name, not recursive) or a kustomization directory
// (rendered in-process). Problems are returned as *Error with file and line.
func Load(paths []string) ([]Object, error) {
	if len(paths) == 0 {
		return nil, &Error{Msg: "no manifest paths given"}
	}
	var objs []Object
	for _, p := range paths {
		got, err := loadPath(p)
		if err != nil {
			return nil, err
		}
		objs = append(objs, got...)
	}
	if len(objs) == 0 {
		return nil, &Error{Msg: "no Kubernetes objects found in " + strings.Join(paths, ", ")}
	}
	if err := checkDuplicates(objs); err != nil {
		return nil, err
	}
	return objs, nil
}

func loadPath(p string) ([]Object, error) {
	info, err := os.Stat(p)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, &Error{File: p, Msg: "no such file or directory"}
		}
		return nil, &Error{File: p, Msg: unwrapPathError(err)}
	}
	if !info.IsDir() {
		if !manifestExts[filepath.Ext(p)] {
			return nil, &Error{File: p, Msg: "not a manifest file: want a .yaml, .yml or .json file, a directory or a kustomization directory"}
		}
		return loadFile(p)
	}
	if k := kustomizationFile(p); k != "" {
		return loadKustomization(p)
	}
	entries, err := os.ReadDir(p) // sorted by name
	if err != nil {
		return nil, &Error{File: p, Msg: unwrapPathError(err)}
	}
	var objs []Object
	for _, e := range entries {
		if !manifestExts[filepath.Ext(e.Name())] {
			continue
		}
		f := filepath.Join(p, e.Name())
		if fi, err := os.Stat(f); err != nil || fi.IsDir() {
			continue // a dangling link or a directory named like a file: kubectl skips these too
		}
		got, err := loadFile(f)
		if err != nil {
			return nil, err
		}
		objs = append(objs, got...)
	}
	return objs, nil
}

func unwrapPathError(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// kustomizationFile returns the name of the kustomization file in dir, or "".
func kustomizationFile(dir string) string {
	for _, n := range konfig.RecognizedKustomizationFileNames() {
		if fi, err := os.Stat(filepath.Join(dir, n)); err == nil && !fi.IsDir() {
			return n
		}
	}
	return ""
}

func loadKustomization(dir string) ([]Object, error) {
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	rm, err := k.Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		return nil, &Error{File: dir, Msg: "kustomize build: " + err.Error()}
	}
	src := Source{File: dir, Kustomization: true}
	var objs []Object
	for _, r := range rm.Resources() {
		y, err := r.AsYAML()
		if err != nil {
			return nil, &Error{File: dir, Msg: fmt.Sprintf("kustomize output %s: %v", r.CurId(), err)}
		}
		got, err := parseDocument(y, src, false)
		if err != nil {
			return nil, err
		}
		objs = append(objs, got...)
	}
	return objs, nil
}

func loadFile(p string) ([]Object, error) {
	data, err := os.ReadFile(p)
	if err != nil {
		return nil, &Error{File: p, Msg: unwrapPathError(err)}
	}
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	if filepath.Ext(p) == ".json" {
		if perr := checkJSON(data); perr != nil {
			return nil, &Error{File: p, Line: perr.line, Msg: perr.msg}
		}
		if len(bytes.TrimSpace(data)) == 0 {
			return nil, nil
		}
		return parseJSON(data, Source{File: p, Line: 1})
	}
	docs, perr := splitDocuments(data)
	if perr != nil {
		return nil, &Error{File: p, Line: perr.line, Msg: perr.msg}
	}
	var objs []Object
	for _, d := range docs {
		got, err := parseDocument(d.data, Source{File: p, Line: d.line}, true)
		if err != nil {
			return nil, err
		}
		objs = append(objs, got...)
	}
	return objs, nil
}

// posError is an error at a 1-based line (0 when unknown).
type posError struct {
	line int
	msg  string
}

// checkJSON reports a JSON syntax error at its line.
func checkJSON(data []byte) *posError {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil
	}
	var v any
	err := json.Unmarshal(data, &v)
	if err == nil {
		return nil
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return &posError{line: lineAt(data, se.Offset), msg: "JSON syntax error: " + se.Error()}
	}
	return &posError{line: 1, msg: "JSON syntax error: " + err.Error()}
}

// lineAt returns the 1-based line of byte offset off (the line of the last byte read).
func lineAt(data []byte, off int64) int {
	if off > int64(len(data)) {
		off = int64(len(data))
	}
	if off > 0 {
		off-- // Offset counts the offending byte as read
	}
	return 1 + bytes.Count(data[:off], []byte("\n"))
}

// document is one YAML document of a stream and the 1-based line of its first line.
type document struct {
	data []byte
	line int
}

// splitDocuments splits a YAML stream on lines that are "---", optionally
// followed by spaces or a comment (what kubectl's YAML reader accepts).
func splitDocuments(data []byte) ([]document, *posError) {
	var docs []document
	start, startLine := 0, 1
	lineNo := 0
	for off := 0; off < len(data); {
		lineNo++
		end := bytes.IndexByte(data[off:], '\n')
		next := len(data)
		if end >= 0 {
			next = off + end + 1
		}
		line := data[off:next]
		if bytes.HasPrefix(line, []byte("---")) {
			rest := strings.TrimSpace(string(line[3:]))
			if rest != "" && !strings.HasPrefix(rest, "#") {
				return nil, &posError{line: lineNo, msg: "only spaces or a comment may follow the document separator ---"}
			}
			docs = append(docs, document{data: data[start:off], line: startLine})
			start, startLine = next, lineNo+1
		}
		off = next
	}
	docs = append(docs, document{data: data[start:], line: startLine})
	return docs, nil
}

// yamlLineErr matches the position yaml.v3 and go-yaml v2 put in their errors.
var yamlLineErr = regexp.MustCompile(`^(?:error converting YAML to JSON: )?yaml: line (\d+): (.*)$`)

// yamlError turns a YAML parser error into an *Error at the absolute line.
func yamlError(src Source, err error) *Error {
	msg := err.Error()
	line := src.Line
	if m := yamlLineErr.FindStringSubmatch(msg); m != nil {
		n, _ := strconv.Atoi(m[1])
		line = docLine(src, n)
		msg = m[2]
	} else {
		msg = strings.TrimPrefix(strings.TrimPrefix(msg, "error converting YAML to JSON: "), "yaml: ")
	}
	return &Error{File: src.File, Line: line, Msg: "YAML syntax error: " + msg}
}

// docLine converts a 1-based line inside a document to a line of its file (0 when unknown).
func docLine(src Source, n int) int {
	if src.Line == 0 || n <= 0 {
		return src.Line
	}
	return src.Line + n - 1
}

// parseDocument parses one YAML (or JSON) document into objects, expanding
// Lists; empty and comment-only documents give none. With validate, every
// object needs apiVersion, kind and metadata.name.
func parseDocument(data []byte, src Source, validate bool) ([]Object, error) {
	var node yaml.Node
	if err := yaml.Unmarshal(data, &node); err != nil {
		return nil, yamlError(src, err)
	}
	if len(node.Content) == 0 {
		return nil, nil // empty or comment-only
	}
	if n, first := duplicateKey(node.Content[0]); n != nil {
		return nil, &Error{File: src.File, Line: docLine(src, n.Line),
			Msg: fmt.Sprintf("YAML syntax error: mapping key %q is already defined at line %d", n.Value, docLine(src, first.Line))}
	}
	js, err := sigsyaml.YAMLToJSON(data)
	if err != nil {
		return nil, yamlError(src, err)
	}
	return convert(js, node.Content[0], src, validate)
}

// duplicateKey finds a key given twice in one mapping under n (which a JSON
// conversion would silently collapse): the second key node and the first.
func duplicateKey(n *yaml.Node) (dup, first *yaml.Node) {
	switch n.Kind {
	case yaml.MappingNode:
		seen := make(map[string]*yaml.Node, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if k.Kind == yaml.ScalarNode && k.Value != "<<" {
				if f, ok := seen[k.Value]; ok {
					return k, f
				}
				seen[k.Value] = k
			}
			if d, f := duplicateKey(n.Content[i+1]); d != nil {
				return d, f
			}
		}
	case yaml.SequenceNode, yaml.DocumentNode:
		for _, c := range n.Content {
			if d, f := duplicateKey(c); d != nil {
				return d, f
			}
		}
	}
	return nil, nil
}

// parseJSON parses one JSON document (already checked to be valid JSON); the
// YAML node only gives line numbers, so a YAML parser's quibble is ignored.
func parseJSON(data []byte, src Source) ([]Object, error) {
	var node yaml.Node
	var root *yaml.Node
	if yaml.Unmarshal(data, &node) == nil && len(node.Content) > 0 {
		root = node.Content[0]
		if n, first := duplicateKey(root); n != nil {
			return nil, &Error{File: src.File, Line: n.Line,
				Msg: fmt.Sprintf("JSON error: key %q is already defined at line %d", n.Value, first.Line)}
		}
	}
	return convert(data, root, src, true)
}

// convert turns one JSON document into objects; root, when not nil, is the
// same document's YAML node, for line numbers.
func convert(js []byte, root *yaml.Node, src Source, validate bool) ([]Object, error) {
	var v any
	if err := utiljson.Unmarshal(js, &v); err != nil {
		return nil, &Error{File: src.File, Line: src.Line, Msg: "converting YAML to JSON: " + err.Error()}
	}
	if v == nil {
		return nil, nil // a document that is just "null" or "~"
	}
	at := func(n *yaml.Node) Source {
		s := src
		if n != nil && s.Line > 0 {
			s.Line = docLine(src, n.Line)
		}
		return s
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, errAt(at(root), "a Kubernetes object must be a mapping (apiVersion, kind, metadata, ...), got %s", typeName(v))
	}
	u := &unstructured.Unstructured{Object: m}
	if validate && isList(u) {
		items, ok := m["items"].([]any)
		if !ok {
			return nil, errAt(at(mapValue(root, "items")), "%s: items must be a list of objects", u.GetKind())
		}
		itemNodes := seqItems(mapValue(root, "items"))
		var objs []Object
		for i, it := range items {
			var n *yaml.Node
			if i < len(itemNodes) {
				n = itemNodes[i]
			}
			im, ok := it.(map[string]any)
			if !ok {
				return nil, errAt(at(n), "%s item %d must be a mapping, got %s", u.GetKind(), i, typeName(it))
			}
			o := Object{Unstructured: &unstructured.Unstructured{Object: im}, Source: at(n)}
			if err := checkObject(o); err != nil {
				return nil, err
			}
			objs = append(objs, o)
		}
		return objs, nil
	}
	o := Object{Unstructured: u, Source: at(root)}
	if validate {
		if err := checkObject(o); err != nil {
			return nil, err
		}
	}
	return []Object{o}, nil
}

func errAt(src Source, format string, args ...any) *Error {
	return &Error{File: src.File, Line: src.Line, Msg: fmt.Sprintf(format, args...)}
}

// isList reports whether u is a List (kind List, or *List with items).
func isList(u *unstructured.Unstructured) bool {
	k := u.GetKind()
	if k == "List" {
		return true
	}
	_, hasItems := u.Object["items"]
	return strings.HasSuffix(k, "List") && hasItems
}

// checkObject requires apiVersion, kind and metadata.name, as server-side apply does.
func checkObject(o Object) error {
	var missing []string
	if s, ok := o.Object["apiVersion"].(string); !ok || s == "" {
		missing = append(missing, "apiVersion")
	} else if _, err := schema.ParseGroupVersion(s); err != nil {
		return errAt(o.Source, "invalid apiVersion %q: %v", s, err)
	}
	if s, ok := o.Object["kind"].(string); !ok || s == "" {
		missing = append(missing, "kind")
	}
	if md, ok := o.Object["metadata"]; ok {
		if _, isMap := md.(map[string]any); !isMap {
			return errAt(o.Source, "metadata must be a mapping, got %s", typeName(md))
		}
	}
	name, _, _ := unstructured.NestedFieldNoCopy(o.Object, "metadata", "name")
	if s, ok := name.(string); !ok || s == "" {
		missing = append(missing, "metadata.name")
	}
	if len(missing) > 0 {
		what := "object"
		if k, ok := o.Object["kind"].(string); ok && k != "" {
			what = k
		}
		return errAt(o.Source, "%s has no %s (every manifest object needs apiVersion, kind and metadata.name)", what, strings.Join(missing, ", "))
	}
	if ns, ok := o.Object["metadata"].(map[string]any)["namespace"]; ok {
		if _, isStr := ns.(string); !isStr && ns != nil {
			return errAt(o.Source, "metadata.namespace must be a string, got %s", typeName(ns))
		}
	}
	return nil
}

func typeName(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case map[string]any:
		return "a mapping"
	case []any:
		return "a list"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	default:
		return "a number"
	}
}

// mapValue returns the value node of key in mapping node n, or nil.
func mapValue(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// seqItems returns the item nodes of sequence node n, or nil.
func seqItems(n *yaml.Node) []*yaml.Node {
	if n == nil || n.Kind != yaml.SequenceNode {
		return nil
	}
	return n.Content
}

// objectKey identifies an object for duplicate detection.
type objectKey struct {
	group, kind, namespace, name string
}

func keyOf(u *unstructured.Unstructured) objectKey {
	return objectKey{group: u.GroupVersionKind().Group, kind: u.GetKind(), namespace: u.GetNamespace(), name: u.GetName()}
}

func (k objectKey) String() string {
	gk := k.kind
	if k.group != "" {
		gk = k.kind + "." + k.group
	}
	if k.namespace != "" {
		return gk + " " + k.namespace + "/" + k.name
	}
	return gk + " " + k.name
}

// checkDuplicates refuses two objects with the same group, kind, namespace and name.
func checkDuplicates(objs []Object) error {
	seen := make(map[objectKey]Source, len(objs))
	for _, o := range objs {
		k := keyOf(o.Unstructured)
		if first, dup := seen[k]; dup {
			return errAt(o.Source, "duplicate object %s: already defined at %s", k, first)
		}
		seen[k] = o.Source
	}
	return nil
}
