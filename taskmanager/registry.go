package taskmanager

import (
	"errors"
	"fmt"
	"sort"
	"sync"
)

// Errors callers branch on.
var (
	// ErrConfig is wrapped by every invalid channel configuration.
	ErrConfig = errors.New("taskmanager: invalid channel configuration")
	// ErrGraph is wrapped when the products modules consume and produce do
	// not form a valid graph.
	ErrGraph = errors.New("taskmanager: invalid product graph")
	// ErrUnknownModule is wrapped when a config names no registered module.
	ErrUnknownModule = errors.New("taskmanager: unknown module")
	// ErrNoProduct is wrapped when a module asks for a product it did not
	// declare, or returns one it did not declare or misses one it did.
	ErrNoProduct = errors.New("taskmanager: product not declared")
	// ErrModule is wrapped when a module fails during a cycle.
	ErrModule = errors.New("taskmanager: module failed")
	// ErrRunning is returned by Run on a channel that already ran.
	ErrRunning = errors.New("taskmanager: channel already started")
)

// SourceFactory builds a source from its parameters.
type SourceFactory func(p Params) (Source, error)

// TransformFactory builds a transform from its parameters.
type TransformFactory func(p Params) (Transform, error)

// LogicEngineFactory builds a logic engine from its parameters.
type LogicEngineFactory func(p Params) (LogicEngine, error)

// PublisherFactory builds a publisher from its parameters.
type PublisherFactory func(p Params) (Publisher, error)

// Registry maps module names, as channel configs spell them, to factories.
// It is safe for concurrent use.
type Registry struct {
	mu           sync.RWMutex
	sources      map[string]SourceFactory
	transforms   map[string]TransformFactory
	logicEngines map[string]LogicEngineFactory
	publishers   map[string]PublisherFactory
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{
		sources:      map[string]SourceFactory{},
		transforms:   map[string]TransformFactory{},
		logicEngines: map[string]LogicEngineFactory{},
		publishers:   map[string]PublisherFactory{},
	}
}

func register[F any](r *Registry, m map[string]F, kind, name string, f F) error {
	if name == "" {
		return fmt.Errorf("register %s: %w: empty module name", kind, ErrConfig)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := m[name]; dup {
		return fmt.Errorf("register %s %q: %w: already registered", kind, name, ErrConfig)
	}
	m[name] = f
	return nil
}

func lookup[F any](r *Registry, m map[string]F, kind, name string) (F, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	f, ok := m[name]
	if !ok {
		known := make([]string, 0, len(m))
		for k := range m {
			known = append(known, k)
		}
		sort.Strings(known)
		return f, fmt.Errorf("%w: no %s module %q is registered (known: %v)", ErrUnknownModule, kind, name, known)
	}
	return f, nil
}

// RegisterSource registers a source module. A name registered twice is an
// error.
func (r *Registry) RegisterSource(name string, f SourceFactory) error {
	return register(r, r.sources, "source", name, f)
}

// RegisterTransform registers a transform module.
func (r *Registry) RegisterTransform(name string, f TransformFactory) error {
	return register(r, r.transforms, "transform", name, f)
}

// RegisterLogicEngine registers a logic engine module.
func (r *Registry) RegisterLogicEngine(name string, f LogicEngineFactory) error {
	return register(r, r.logicEngines, "logic engine", name, f)
}

// RegisterPublisher registers a publisher module.
func (r *Registry) RegisterPublisher(name string, f PublisherFactory) error {
	return register(r, r.publishers, "publisher", name, f)
}

// NewSource builds the source module registered as name.
func (r *Registry) NewSource(name string, p Params) (Source, error) {
	f, err := lookup(r, r.sources, "source", name)
	if err != nil {
		return nil, err
	}
	return f(p)
}

// NewTransform builds the transform module registered as name.
func (r *Registry) NewTransform(name string, p Params) (Transform, error) {
	f, err := lookup(r, r.transforms, "transform", name)
	if err != nil {
		return nil, err
	}
	return f(p)
}

// NewLogicEngine builds the logic engine module registered as name.
func (r *Registry) NewLogicEngine(name string, p Params) (LogicEngine, error) {
	f, err := lookup(r, r.logicEngines, "logic engine", name)
	if err != nil {
		return nil, err
	}
	return f(p)
}

// NewPublisher builds the publisher module registered as name.
func (r *Registry) NewPublisher(name string, p Params) (Publisher, error) {
	f, err := lookup(r, r.publishers, "publisher", name)
	if err != nil {
		return nil, err
	}
	return f(p)
}
