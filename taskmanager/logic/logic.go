// Package logic is Strata's logic engine: facts are named boolean
// expressions over a cycle's products, rules combine facts (with negation
// and chaining) into publisher actions. Expressions use the expr language
// (github.com/expr-lang/expr), e.g.
//
//	"facts": {
//	    "has_idle_jobs": "demand.jobs > 0",
//	    "over_budget":   "sum(requests, .cost_per_hour) > 40"
//	},
//	"rules": {
//	    "need_resources": {"expression": "has_idle_jobs", "facts": ["need"]},
//	    "provision": {"expression": "need && !over_budget", "actions": ["requests_file"]}
//	}
//
// A fact may name any product of the cycle; the products it names are what
// the engine consumes. A rule names facts only: the configured ones and
// those other rules set (its "facts" receive the rule's value), so rules
// chain in dependency order. A true rule chooses its "actions", a false one
// its "false_actions"; the decision records which rules chose each
// publisher (Decision.Reasons).
package logic

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/parser"
	"github.com/expr-lang/expr/vm"

	"github.com/strata-dataspace/strata/taskmanager"
)

// ModuleName is the name Register gives the engine in a registry.
const ModuleName = "logicengine"

// OriginalModuleName is the original decision engine's module path, also
// registered so its channel configs work unchanged.
const OriginalModuleName = "decisionengine.framework.logicengine.LogicEngine"

// ErrConfig is wrapped by every invalid engine configuration.
var ErrConfig = errors.New("logic: invalid configuration")

// ErrEval is wrapped when a fact or rule cannot be evaluated.
var ErrEval = errors.New("logic: evaluation failed")

// Config is the engine's parameters.
type Config struct {
	// Facts maps fact names to boolean expressions over products.
	Facts map[string]string `json:"facts"`
	// Rules maps rule names to rules.
	Rules map[string]Rule `json:"rules"`
}

// Rule is a boolean expression over facts and what follows from it.
type Rule struct {
	// Expression is a boolean expression over fact names, e.g. "a && !b".
	Expression string `json:"expression"`
	// Actions name the publishers to run when the expression is true.
	Actions []string `json:"actions,omitempty"`
	// FalseActions name the publishers to run when it is false.
	FalseActions []string `json:"false_actions,omitempty"`
	// Facts are set to the expression's value, for later rules.
	Facts []string `json:"facts,omitempty"`
}

type fact struct {
	name string
	prog *vm.Program
}

type rule struct {
	name string
	Rule
	prog *vm.Program
}

// Engine evaluates facts and rules. It implements taskmanager.LogicEngine
// and taskmanager.ActionLister, and is safe for concurrent use.
type Engine struct {
	facts    []fact
	rules    []rule // in dependency order
	consumes []string
	actions  []string
}

var _ taskmanager.LogicEngine = (*Engine)(nil)
var _ taskmanager.ActionLister = (*Engine)(nil)

var identPattern = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// New compiles a configuration. Every problem is an error naming the fact
// or rule.
func New(cfg *Config) (*Engine, error) {
	e := &Engine{}
	consumed := map[string]bool{}
	for _, name := range sorted(cfg.Facts) {
		src := cfg.Facts[name]
		if !identPattern.MatchString(name) {
			return nil, fmt.Errorf("%w: fact name %q: use letters, digits and '_', not starting with a digit", ErrConfig, name)
		}
		tree, err := parser.Parse(src)
		if err != nil {
			return nil, fmt.Errorf("%w: fact %q: %v", ErrConfig, name, err)
		}
		prog, err := expr.Compile(src)
		if err != nil {
			return nil, fmt.Errorf("%w: fact %q: %v", ErrConfig, name, err)
		}
		for _, id := range identifiers(tree.Node) {
			consumed[id] = true
		}
		e.facts = append(e.facts, fact{name: name, prog: prog})
	}
	e.consumes = sorted(consumed)

	// Every fact a rule may read: configured ones and rule-set ones.
	env := map[string]any{}
	for name := range cfg.Facts {
		env[name] = false
	}
	setBy := map[string]string{}
	for _, name := range sorted(cfg.Rules) {
		for _, f := range cfg.Rules[name].Facts {
			if !identPattern.MatchString(f) {
				return nil, fmt.Errorf("%w: rule %q sets fact %q: use letters, digits and '_'", ErrConfig, name, f)
			}
			if _, ok := cfg.Facts[f]; ok {
				return nil, fmt.Errorf("%w: rule %q sets fact %q, which is also a configured fact: rename one", ErrConfig, name, f)
			}
			if other, ok := setBy[f]; ok {
				return nil, fmt.Errorf("%w: rules %q and %q both set fact %q", ErrConfig, other, name, f)
			}
			setBy[f] = name
			env[f] = false
		}
	}
	rules := map[string]*rule{}
	deps := map[string][]string{}
	actions := map[string]bool{}
	for _, name := range sorted(cfg.Rules) {
		r := cfg.Rules[name]
		if strings.TrimSpace(r.Expression) == "" {
			return nil, fmt.Errorf("%w: rule %q has no expression", ErrConfig, name)
		}
		prog, err := expr.Compile(r.Expression, expr.Env(env), expr.AsBool())
		if err != nil {
			return nil, fmt.Errorf("%w: rule %q: %v (a rule reads facts only)", ErrConfig, name, err)
		}
		tree, err := parser.Parse(r.Expression)
		if err != nil {
			return nil, fmt.Errorf("%w: rule %q: %v", ErrConfig, name, err)
		}
		for _, id := range identifiers(tree.Node) {
			if by, ok := setBy[id]; ok {
				deps[name] = append(deps[name], by)
			}
		}
		for _, a := range append(append([]string{}, r.Actions...), r.FalseActions...) {
			actions[a] = true
		}
		rules[name] = &rule{name: name, Rule: r, prog: prog}
	}
	e.actions = sorted(actions)
	done := map[string]bool{}
	for len(done) < len(rules) {
		progress := false
		for _, name := range sorted(rules) {
			if done[name] {
				continue
			}
			ready := true
			for _, d := range deps[name] {
				if !done[d] {
					ready = false
				}
			}
			if ready {
				done[name] = true
				e.rules = append(e.rules, *rules[name])
				progress = true
			}
		}
		if !progress {
			var left []string
			for _, name := range sorted(rules) {
				if !done[name] {
					left = append(left, fmt.Sprintf("%q", name))
				}
			}
			return nil, fmt.Errorf("%w: rules %s depend on each other's facts in a cycle", ErrConfig, strings.Join(left, ", "))
		}
	}
	return e, nil
}

// identifiers lists the free names an expression reads.
func identifiers(node ast.Node) []string {
	v := &identVisitor{names: map[string]bool{}, bound: map[string]bool{}}
	ast.Walk(&node, v)
	var out []string
	for n := range v.names {
		if !v.bound[n] {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

type identVisitor struct{ names, bound map[string]bool }

func (v *identVisitor) Visit(node *ast.Node) {
	switch n := (*node).(type) {
	case *ast.IdentifierNode:
		v.names[n.Value] = true
	case *ast.VariableDeclaratorNode:
		v.bound[n.Name] = true
	}
}

// Consumes names the products the facts read.
func (e *Engine) Consumes() []string { return e.consumes }

// Actions names every publisher a rule may choose.
func (e *Engine) Actions() []string { return e.actions }

// Evaluate evaluates the facts over the products, then the rules in
// dependency order, and returns the decision.
func (e *Engine) Evaluate(ctx context.Context, in *taskmanager.Products) (*taskmanager.Decision, error) {
	env := make(map[string]any, len(e.consumes))
	for _, k := range e.consumes {
		raw, ok := in.Raw(k)
		if !ok {
			return nil, fmt.Errorf("%w: product %q is missing", ErrEval, k)
		}
		var v any
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, fmt.Errorf("%w: decode product %q: %v", ErrEval, k, err)
		}
		env[k] = v
	}
	d := &taskmanager.Decision{Facts: map[string]bool{}, Rules: map[string]bool{}, Actions: []string{}}
	for _, f := range e.facts {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		b, err := runBool(f.prog, env, "fact", f.name)
		if err != nil {
			return nil, err
		}
		d.Facts[f.name] = b
	}
	facts := make(map[string]any, len(d.Facts))
	for k, v := range d.Facts {
		facts[k] = v
	}
	for _, r := range e.rules {
		for _, f := range r.Facts {
			if _, ok := facts[f]; !ok {
				facts[f] = false // set by this rule below; compiled env needs it
			}
		}
	}
	chosen := map[string]bool{}
	for _, r := range e.rules {
		b, err := runBool(r.prog, facts, "rule", r.name)
		if err != nil {
			return nil, err
		}
		d.Rules[r.name] = b
		for _, f := range r.Facts {
			facts[f] = b
			d.Facts[f] = b
		}
		acts, why := r.Actions, r.name
		if !b {
			acts, why = r.FalseActions, "!"+r.name
		}
		for _, a := range acts {
			chosen[a] = true
			if d.Reasons == nil {
				d.Reasons = map[string][]string{}
			}
			d.Reasons[a] = append(d.Reasons[a], why)
		}
	}
	d.Actions = sorted(chosen)
	if d.Actions == nil {
		d.Actions = []string{}
	}
	return d, nil
}

// Register registers the engine as ModuleName and OriginalModuleName.
func Register(r *taskmanager.Registry) error {
	f := func(p taskmanager.Params) (taskmanager.LogicEngine, error) {
		var cfg Config
		if err := p.Decode(&cfg); err != nil {
			return nil, err
		}
		return New(&cfg)
	}
	if err := r.RegisterLogicEngine(ModuleName, f); err != nil {
		return err
	}
	return r.RegisterLogicEngine(OriginalModuleName, f)
}

func sorted[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// runBool runs prog, the fact or rule (kind) name, on env: its value must
// be a boolean.
func runBool(prog *vm.Program, env map[string]any, kind, name string) (bool, error) {
	out, err := expr.Run(prog, env)
	if err != nil {
		return false, fmt.Errorf("%w: %s %q: %v", ErrEval, kind, name, err)
	}
	b, ok := out.(bool)
	if !ok {
		return false, fmt.Errorf("%w: %s %q is %v (%T), not a boolean", ErrEval, kind, name, out, out)
	}
	return b, nil
}
