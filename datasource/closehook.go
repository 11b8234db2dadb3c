package datasource

import "sync"

// CloseHooks runs functions once, when a DataSource closes: layers above
// it keep state per pool (prepared statements, caches) and release it
// then. The zero value is ready to use.
type CloseHooks struct {
	mu     sync.Mutex
	fns    []func()
	closed bool
}

// OnClose registers fn to run at Close; after Close it runs fn at once.
func (h *CloseHooks) OnClose(fn func()) {
	h.mu.Lock()
	if !h.closed {
		h.fns = append(h.fns, fn)
		h.mu.Unlock()
		return
	}
	h.mu.Unlock()
	fn()
}

// Run runs the registered functions, in order, and marks the hooks
// closed. Only the first call runs them.
func (h *CloseHooks) Run() {
	h.mu.Lock()
	fns := h.fns
	h.fns, h.closed = nil, true
	h.mu.Unlock()
	for _, fn := range fns {
		fn()
	}
}
