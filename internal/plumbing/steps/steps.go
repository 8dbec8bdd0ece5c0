// Package steps runs a long orchestration (a release, a node image, the lab's sandbox init) as
// a list of named steps, the way kubernetes/release's anago does: each step announced as
// "step 3/11: …" before it runs, so a user watching sees how far along it is, and the first
// failure stops the rest.
package steps

import "context"

// Step is one named part of an orchestration.
type Step struct {
	Name string // what the step does, in the progressive: "building the binaries"
	Run  func(context.Context) error
}

// Run runs the steps in order, logging "<prefix>: step i/n: <name>" before each; it stops at the
// first error (returned as the step returned it: its message already names the problem) or when
// ctx is done.
func Run(ctx context.Context, log func(string, ...any), prefix string, steps []Step) error {
	for i, s := range steps {
		if err := ctx.Err(); err != nil {
			return err
		}
		if log != nil {
			log("%s: step %d/%d: %s", prefix, i+1, len(steps), s.Name)
		}
		if err := s.Run(ctx); err != nil {
			return err
		}
	}
	return nil
}
