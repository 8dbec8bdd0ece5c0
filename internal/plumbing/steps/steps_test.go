package steps

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
)

func TestRunAnnouncesEachStepAndStopsAtTheFirstError(t *testing.T) {
	var logged, ran []string
	log := func(format string, args ...any) { logged = append(logged, fmt.Sprintf(format, args...)) }
	step := func(name string, err error) Step {
		return Step{Name: name, Run: func(context.Context) error { ran = append(ran, name); return err }}
	}
	boom := errors.New("boom")
	err := Run(context.Background(), log, "release v1", []Step{step("a", nil), step("b", boom), step("c", nil)})
	if !errors.Is(err, boom) {
		t.Fatalf("Run: %v, want the second step's error", err)
	}
	if want := []string{"a", "b"}; !slices.Equal(ran, want) {
		t.Errorf("ran %v, want %v", ran, want)
	}
	if want := []string{"release v1: step 1/3: a", "release v1: step 2/3: b"}; !slices.Equal(logged, want) {
		t.Errorf("logged %q, want %q", logged, want)
	}
}

func TestRunStopsWhenCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	ran := 0
	err := Run(ctx, nil, "x", []Step{
		{Name: "first", Run: func(context.Context) error { ran++; cancel(); return nil }},
		{Name: "second", Run: func(context.Context) error { ran++; return nil }},
	})
	if !errors.Is(err, context.Canceled) || ran != 1 {
		t.Errorf("Run after cancel: %v, %d steps ran; want context.Canceled after 1", err, ran)
	}
}
