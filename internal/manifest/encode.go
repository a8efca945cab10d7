package manifest

import (
	"bytes"
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	sigsyaml "sigs.k8s.io/yaml"
)

// Encode renders objects as a multi-document YAML stream, in order.
func Encode(objs []*unstructured.Unstructured) ([]byte, error) {
	var buf bytes.Buffer
	for i, u := range objs {
		if u == nil {
			return nil, fmt.Errorf("encode object %d: nil object", i)
		}
		y, err := sigsyaml.Marshal(u.Object)
		if err != nil {
			return nil, fmt.Errorf("encode %s/%s: %w", u.GetKind(), u.GetName(), err)
		}
		if i > 0 {
			buf.WriteString("---\n")
		}
		buf.Write(y)
	}
	return buf.Bytes(), nil
}

// Decode parses a multi-document YAML stream (Encode's output) into objects,
// in order, skipping empty documents; Lists are kept as they are.
func Decode(data []byte) ([]*unstructured.Unstructured, error) {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	docs, perr := splitDocuments(data)
	if perr != nil {
		return nil, fmt.Errorf("decode manifests: %w", &Error{Line: perr.line, Msg: perr.msg})
	}
	var out []*unstructured.Unstructured
	for _, d := range docs {
		objs, err := parseDocument(d.data, Source{Line: d.line}, false)
		if err != nil {
			return nil, fmt.Errorf("decode manifests: %w", err)
		}
		for _, o := range objs {
			out = append(out, o.Unstructured)
		}
	}
	return out, nil
}
