// Package atomicfile writes output files so that a reader, or the file
// system after a crash, sees either the old file or the complete new one,
// never part of one; and so that an interrupted or failed command leaves
// nothing behind.
//
// A [File] is a temporary file in the destination's directory (the rename
// must not cross file systems). [File.Commit] flushes it to disk and
// renames it over the destination; [File.Abort] removes it. [Interrupt],
// called from a signal handler, removes every temporary file not yet
// committed and makes later commits fail, so that Ctrl-C never leaves a
// temporary file or a half-written output.
//
// Errors name the destination, never the temporary file: an operator who
// asked for "out.json" reads "out.json: permission denied".
//
// A destination that exists and is not a regular file (a device such as
// /dev/null or /dev/stdout, a named pipe) cannot be replaced atomically and
// must not be replaced at all (renaming over /dev/null as root would turn
// the device into a file): it is written in place, and Commit only closes
// it.
package atomicfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// ErrInterrupted is returned by Create and Commit after [Interrupt].
var ErrInterrupted = errors.New("interrupted")

// Options say how a File replaces its destination.
type Options struct {
	// Perm is the mode of the new file, applied exactly (the umask does
	// not change it). Zero means 0644.
	Perm os.FileMode
	// NoReplace makes Commit refuse to replace an existing destination
	// (the error matches fs.ErrExist). On file systems with hard links the
	// check and the creation are one step, so two writers cannot both win.
	NoReplace bool
	// KeepMode keeps the mode of the destination it replaces (an in-place
	// edit such as adding a signature); Perm applies to a new file.
	KeepMode bool
	// ModTime, when set, is the new file's modification time, set before
	// it replaces the destination (static web servers derive ETags from
	// it).
	ModTime time.Time
}

// Error is an error about the destination file Name.
type Error struct {
	Name string
	Err  error
}

func (e *Error) Error() string { return e.Name + ": " + e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// ErrExist is the error of a refused replacement (NoReplace, CheckNew);
// it also matches fs.ErrExist.
var ErrExist = fmt.Errorf("already exists: %w", fs.ErrExist)

// wrap names the destination in err, dropping the temporary file's name
// that *fs.PathError and *os.LinkError carry.
func wrap(name string, err error) error {
	if err == nil {
		return nil
	}
	var pe *fs.PathError
	var le *os.LinkError
	switch {
	case errors.As(err, &pe):
		err = pe.Err
	case errors.As(err, &le):
		err = le.Err
	}
	return &Error{Name: name, Err: err}
}

// pending holds the temporary files not yet committed or aborted.
var pending struct {
	sync.Mutex
	files       map[*File]struct{}
	interrupted bool
}

// File is an output file being written. It is not safe for concurrent
// use, except that Interrupt may run at any time.
type File struct {
	name string
	o    Options
	tmp  *os.File
	done bool
	// direct: tmp is the destination itself, opened for writing (a
	// device or a pipe), not a temporary file.
	direct bool
}

// Create starts writing name. Nothing appears under name until Commit.
func Create(name string, o Options) (*File, error) {
	if o.Perm == 0 {
		o.Perm = 0o644
	}
	pending.Lock()
	defer pending.Unlock()
	if pending.interrupted {
		return nil, &Error{Name: name, Err: ErrInterrupted}
	}
	fi, err := os.Stat(name)
	switch {
	case err == nil && fi.IsDir():
		return nil, &Error{Name: name, Err: errors.New("is a directory")}
	case err == nil && !fi.Mode().IsRegular():
		return createDirect(name, o)
	}
	tmp, err := os.CreateTemp(filepath.Dir(name), "."+filepath.Base(name)+".tmp*")
	if err != nil {
		return nil, wrap(name, err)
	}
	f := &File{name: name, o: o, tmp: tmp}
	if pending.files == nil {
		pending.files = map[*File]struct{}{}
	}
	pending.files[f] = struct{}{}
	return f, nil
}

// createDirect opens an existing destination that is not a regular file
// for writing in place. It is registered nowhere: Interrupt has nothing of
// it to remove.
func createDirect(name string, o Options) (*File, error) {
	if o.NoReplace {
		return nil, &Error{Name: name, Err: ErrExist}
	}
	d, err := os.OpenFile(name, os.O_WRONLY, 0)
	if err != nil {
		return nil, wrap(name, err)
	}
	return &File{name: name, o: o, tmp: d, direct: true}, nil
}

// Name returns the destination's name.
func (f *File) Name() string { return f.name }

// Write writes to the temporary file.
func (f *File) Write(p []byte) (int, error) {
	n, err := f.tmp.Write(p)
	return n, f.fail(err)
}

// fail names the destination in err; after Interrupt (which closed the
// temporary file under the writer) it says so instead.
func (f *File) fail(err error) error {
	if err == nil {
		return nil
	}
	pending.Lock()
	defer pending.Unlock()
	if pending.interrupted {
		return &Error{Name: f.name, Err: ErrInterrupted}
	}
	return wrap(f.name, err)
}

// Commit makes the file complete on disk (fsync) with its mode, and moves
// it to its name (with NoReplace, only if nothing is there). On error the
// temporary file is removed and the destination is unchanged.
func (f *File) Commit() error {
	pending.Lock()
	done, intr := f.done, pending.interrupted
	pending.Unlock()
	switch {
	case intr:
		return &Error{Name: f.name, Err: ErrInterrupted}
	case done:
		return &Error{Name: f.name, Err: errors.New("already committed or aborted")}
	}
	err := f.commit()
	if err != nil {
		f.Abort()
	}
	return err
}

func (f *File) commit() error {
	if f.direct {
		pending.Lock()
		f.done = true
		pending.Unlock()
		return f.fail(f.tmp.Close())
	}
	perm := f.o.Perm
	if f.o.KeepMode {
		if fi, err := os.Stat(f.name); err == nil {
			perm = fi.Mode().Perm()
		}
	}
	if err := f.tmp.Chmod(perm); err != nil {
		return f.fail(err)
	}
	if err := f.tmp.Sync(); err != nil {
		return f.fail(err)
	}
	if err := f.tmp.Close(); err != nil {
		return f.fail(err)
	}
	if !f.o.ModTime.IsZero() {
		if err := os.Chtimes(f.tmp.Name(), f.o.ModTime, f.o.ModTime); err != nil {
			return f.fail(err)
		}
	}
	// The lock orders the move against Interrupt: either the file is in
	// place before the interrupt removes the temporary files, or the
	// commit fails.
	pending.Lock()
	defer pending.Unlock()
	if pending.interrupted {
		return &Error{Name: f.name, Err: ErrInterrupted}
	}
	if err := f.move(); err != nil {
		return err
	}
	delete(pending.files, f)
	f.done = true
	syncDir(filepath.Dir(f.name))
	return nil
}

func (f *File) move() error {
	tmp := f.tmp.Name()
	if !f.o.NoReplace {
		return wrap(f.name, os.Rename(tmp, f.name))
	}
	err := os.Link(tmp, f.name)
	switch {
	case err == nil:
		os.Remove(tmp)
		return nil
	case errors.Is(err, fs.ErrExist):
		return &Error{Name: f.name, Err: ErrExist}
	case errors.Is(err, syscall.EPERM), errors.Is(err, syscall.ENOTSUP), errors.Is(err, syscall.EOPNOTSUPP), errors.Is(err, syscall.EXDEV):
		// No hard links here (some network and FAT file systems): check,
		// then rename. A writer racing in between can still lose.
		if _, err := os.Lstat(f.name); err == nil {
			return &Error{Name: f.name, Err: ErrExist}
		}
		return wrap(f.name, os.Rename(tmp, f.name))
	default:
		return wrap(f.name, err)
	}
}

// Abort removes the temporary file. It does nothing after Commit, and may
// be deferred right after Create.
func (f *File) Abort() {
	pending.Lock()
	defer pending.Unlock()
	if f.done {
		return
	}
	f.done = true
	f.tmp.Close()
	if !f.direct {
		os.Remove(f.tmp.Name())
	}
	delete(pending.files, f)
}

// WriteFile writes data to name through a File.
func WriteFile(name string, data []byte, o Options) error {
	f, err := Create(name, o)
	if err != nil {
		return err
	}
	defer f.Abort()
	if _, err := f.Write(data); err != nil {
		return err
	}
	return f.Commit()
}

// CheckNew returns the error Commit would return with NoReplace if name
// exists now, so that a command can refuse before doing its work.
func CheckNew(name string) error {
	if _, err := os.Lstat(name); err == nil {
		return &Error{Name: name, Err: ErrExist}
	}
	return nil
}

// Interrupt removes the temporary file of every File not yet committed or
// aborted; from then on Create and Commit fail with ErrInterrupted. Call it
// when the process is told to stop (SIGINT, SIGTERM).
func Interrupt() {
	pending.Lock()
	defer pending.Unlock()
	pending.interrupted = true
	for f := range pending.files {
		f.done = true
		f.tmp.Close()
		os.Remove(f.tmp.Name())
	}
	clear(pending.files)
}

// syncDir flushes a directory's entries, so that a rename survives a
// crash. Best effort: some systems cannot sync directories.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}
