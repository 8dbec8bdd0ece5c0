// Package command runs external programs (git, go, ip, docker) so that every failure names the
// command line and carries the tail of its output.
package command

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
)

// Cmd describes one external program invocation.
type Cmd struct {
	Name string
	Args []string
	Dir  string
	// Env is appended to the current environment (later entries win).
	Env []string
	// Stdout and Stderr, when set, receive the output as it is produced, in addition to the
	// copy kept for error messages.
	Stdout, Stderr io.Writer
	Stdin          io.Reader
}

// New returns a Cmd for name with args.
func New(name string, args ...string) *Cmd { return &Cmd{Name: name, Args: args} }

// InDir sets the working directory.
func (c *Cmd) InDir(dir string) *Cmd { c.Dir = dir; return c }

// WithEnv appends environment entries of the form KEY=VALUE.
func (c *Cmd) WithEnv(env ...string) *Cmd { c.Env = append(c.Env, env...); return c }

// String is the command line as a user would type it.
func (c *Cmd) String() string {
	parts := append([]string{c.Name}, c.Args...)
	for i, p := range parts {
		if p == "" || strings.ContainsAny(p, " \t\"'$") {
			parts[i] = fmt.Sprintf("%q", p)
		}
	}
	return strings.Join(parts, " ")
}

// Error is returned when a program cannot be started or exits non-zero.
type Error struct {
	Command  string
	ExitCode int // -1 when the program could not be started
	Output   string
	Err      error
}

func (e *Error) Error() string {
	msg := fmt.Sprintf("%s: %v", e.Command, e.Err)
	if out := strings.TrimSpace(e.Output); out != "" {
		msg += ": " + lastLines(out, 5)
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// Run runs the command and returns its combined output.
func (c *Cmd) Run(ctx context.Context) (string, error) {
	var all bytes.Buffer
	err := c.run(ctx, tee(&all, c.Stdout), tee(&all, c.Stderr), &all)
	return all.String(), err
}

// Output runs the command and returns its trimmed standard output; on failure the error carries
// standard error.
func (c *Cmd) Output(ctx context.Context) (string, error) {
	var stdout, stderr bytes.Buffer
	err := c.run(ctx, tee(&stdout, c.Stdout), tee(&stderr, c.Stderr), &stderr)
	return strings.TrimSpace(stdout.String()), err
}

func (c *Cmd) run(ctx context.Context, stdout, stderr io.Writer, diag *bytes.Buffer) error {
	cmd := exec.CommandContext(ctx, c.Name, c.Args...)
	cmd.Dir = c.Dir
	if len(c.Env) > 0 {
		cmd.Env = append(cmd.Environ(), c.Env...)
	}
	cmd.Stdin = c.Stdin
	cmd.Stdout = stdout
	cmd.Stderr = stderr
	err := cmd.Run()
	if err == nil {
		return nil
	}
	code := -1
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		code = exitErr.ExitCode()
	}
	return &Error{Command: c.String(), ExitCode: code, Output: diag.String(), Err: err}
}

// Require returns an error naming the program if it is not on PATH.
func Require(names ...string) error {
	for _, n := range names {
		if _, err := exec.LookPath(n); err != nil {
			return fmt.Errorf("%s is required but not found on PATH", n)
		}
	}
	return nil
}

func tee(buf *bytes.Buffer, w io.Writer) io.Writer {
	if w == nil {
		return buf
	}
	return io.MultiWriter(buf, w)
}

func lastLines(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}
