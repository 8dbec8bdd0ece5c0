package filelock

import (
	"path/filepath"
	"testing"
	"time"
)

// A second holder waits, is told it waits, and gets the lock when the first lets go.
func TestLockWaitsForTheHolder(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.lock")
	unlock, err := Lock(path, func() { t.Error("the first holder was told to wait") })
	if err != nil {
		t.Fatal(err)
	}
	told := make(chan struct{}, 1)
	got := make(chan func(), 1)
	go func() {
		u, err := Lock(path, func() { told <- struct{}{} })
		if err != nil {
			t.Error(err)
		}
		got <- u
	}()
	<-told
	select {
	case <-got:
		t.Fatal("the lock was taken twice")
	case <-time.After(200 * time.Millisecond):
	}
	unlock()
	(<-got)()
}
