package ghaction

import (
	"gopkg.in/yaml.v3"
)

// kubeconfigSecretKeys are the kubeconfig fields that hold credentials.
var kubeconfigSecretKeys = map[string]bool{
	"token": true, "client-key-data": true, "password": true,
	"id-token": true, "refresh-token": true, "access-token": true, "client-secret": true,
}

// KubeconfigSecrets returns the credential values found in a kubeconfig
// (tokens, client keys, passwords, auth-provider tokens, exec env values).
// Content that is not YAML yields nothing: the caller masks it whole.
func KubeconfigSecrets(content []byte) []string {
	var root yaml.Node
	if err := yaml.Unmarshal(content, &root); err != nil {
		return nil
	}
	var out []string
	var walk func(n *yaml.Node, inEnv bool)
	walk = func(n *yaml.Node, inEnv bool) {
		switch n.Kind {
		case yaml.DocumentNode, yaml.SequenceNode:
			for _, c := range n.Content {
				walk(c, inEnv)
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i].Value, n.Content[i+1]
				switch {
				case v.Kind == yaml.ScalarNode && v.Value != "" && (kubeconfigSecretKeys[k] || (inEnv && k == "value")):
					out = append(out, v.Value)
				default:
					walk(v, inEnv || k == "env")
				}
			}
		}
	}
	walk(&root, false)
	return out
}

// MaskKubeconfig masks a kubeconfig's credentials without masking each of its
// ordinary lines (which would hide every "apiVersion: v1" in the log).
// Content that is not a YAML mapping is masked whole, line by line.
func (r *Runtime) MaskKubeconfig(content string) {
	var doc map[string]any
	if err := yaml.Unmarshal([]byte(content), &doc); err != nil || len(doc) == 0 {
		r.Mask(content)
		return
	}
	for _, s := range KubeconfigSecrets([]byte(content)) {
		r.Mask(s)
	}
}
