package datasource

import "fmt"

// DedupeProducts checks a batch for ProductPut and keeps the last product
// of each key, in first-seen order. Backends call it before writing.
func DedupeProducts(in []*Product) ([]*Product, error) {
	if len(in) == 0 {
		return nil, fmt.Errorf("%w: no products to put", ErrInvalid)
	}
	index := make(map[string]int, len(in))
	out := make([]*Product, 0, len(in))
	for i, p := range in {
		if p == nil {
			return nil, fmt.Errorf("%w: product %d of the batch is nil", ErrInvalid, i)
		}
		if p.Key == "" {
			return nil, fmt.Errorf("%w: product %d of the batch has an empty key", ErrInvalid, i)
		}
		if j, ok := index[p.Key]; ok {
			out[j] = p
			continue
		}
		index[p.Key] = len(out)
		out = append(out, p)
	}
	return out, nil
}
