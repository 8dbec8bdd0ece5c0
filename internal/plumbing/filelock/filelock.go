// Package filelock holds exclusive flock(2) locks on files: what hk's processes that may run at
// once (builds, make test's stages, several checkouts on one machine) use to take turns.
package filelock

import (
	"os"
	"syscall"
)

// Lock holds an exclusive lock on path (created if missing) until the returned function is
// called. When another process holds it, waiting (if not nil) is called once before Lock waits.
func Lock(path string, waiting func()) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		if waiting != nil {
			waiting()
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
			f.Close()
			return nil, err
		}
	}
	return func() { f.Close() }, nil
}
