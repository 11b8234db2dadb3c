package events

import (
	"encoding/json"
	"sort"
)

// schemaNode accumulates what was seen at one place of the stream's
// events.
type schemaNode struct {
	seen    int
	objects int // how many of the values were objects
	types   map[string]bool
	props   map[string]*schemaNode
	items   *schemaNode
}

// add merges one value into the node.
func (n *schemaNode) add(v any) {
	n.seen++
	if n.types == nil {
		n.types = map[string]bool{}
	}
	switch x := v.(type) {
	case nil:
		n.types["null"] = true
	case bool:
		n.types["boolean"] = true
	case string:
		n.types["string"] = true
	case json.Number:
		if _, err := x.Int64(); err == nil {
			n.types["integer"] = true
		} else {
			n.types["number"] = true
		}
	case float64:
		n.types["number"] = true
	case []any:
		n.types["array"] = true
		if n.items == nil {
			n.items = &schemaNode{}
		}
		for _, it := range x {
			n.items.add(it)
		}
	case map[string]any:
		n.types["object"] = true
		if n.props == nil {
			n.props = map[string]*schemaNode{}
		}
		for k, pv := range x {
			c := n.props[k]
			if c == nil {
				c = &schemaNode{}
				n.props[k] = c
			}
			c.add(pv)
		}
		n.objects++
	}
}

// schema renders the node as JSON Schema.
func (n *schemaNode) schema() map[string]any {
	out := map[string]any{}
	if n.types["integer"] && n.types["number"] {
		delete(n.types, "integer")
	}
	var types []string
	for t := range n.types {
		types = append(types, t)
	}
	sort.Strings(types)
	switch len(types) {
	case 0:
	case 1:
		out["type"] = types[0]
	default:
		out["type"] = types
	}
	if n.props != nil {
		props := map[string]any{}
		required := []string{}
		for k, c := range n.props {
			props[k] = c.schema()
			if c.seen == n.objects {
				required = append(required, k)
			}
		}
		sort.Strings(required)
		out["properties"] = props
		if len(required) > 0 {
			out["required"] = required
		}
	}
	if n.items != nil && n.items.seen > 0 {
		out["items"] = n.items.schema()
	}
	return out
}
