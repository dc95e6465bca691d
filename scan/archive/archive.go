// Package archive reads the entries of a zip-based app artifact (APK, AAB,
// IPA) in place, without unpacking anything to disk, under hard limits.
//
// Every read is bounded: an entry larger than [Limits.MaxEntry], a total of
// decompressed bytes beyond [Limits.MaxTotal], an entry whose compression ratio
// is implausible ([Limits.MaxRatio]) or entries whose compressed data overlap
// (the overlapping-file zip bomb) are refused with an [*Error] that names the
// archive and the entry. Truncated or corrupt data surfaces as [ErrTruncated]
// or [ErrCorrupt], never as a panic.
package archive

import (
	"archive/zip"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"sort"
	"strings"
)

// Limits bound what an Archive will decompress.
type Limits struct {
	// MaxEntry is the largest decompressed size of one entry, in bytes.
	MaxEntry int64
	// MaxTotal is the largest number of decompressed bytes read from the
	// whole archive, over all reads.
	MaxTotal int64
	// MaxRatio is the largest decompressed/compressed ratio accepted for an
	// entry larger than 1 MiB.
	MaxRatio int64
	// MaxEntries is the largest number of entries in the central directory.
	MaxEntries int
}

// DefaultLimits fit real apps with room to spare: a 1 GiB IPA of media still
// scans, a zip bomb does not.
var DefaultLimits = Limits{
	MaxEntry:   256 << 20,
	MaxTotal:   2 << 30,
	MaxRatio:   200,
	MaxEntries: 200000,
}

// Errors wrapped by [*Error]; test them with errors.Is.
var (
	ErrNotZip    = errors.New("not a zip archive (or its central directory is missing: truncated?)")
	ErrTooLarge  = errors.New("entry exceeds the size limit")
	ErrTotal     = errors.New("archive exceeds the total decompressed size limit")
	ErrZipBomb   = errors.New("zip bomb")
	ErrTruncated = errors.New("truncated data")
	ErrCorrupt   = errors.New("corrupt data")
	ErrNotFound  = errors.New("no such entry")
)

// Error says which archive and entry a problem is about.
type Error struct {
	File  string // the archive
	Entry string // the entry inside it, or "" for the archive itself
	Err   error
}

func (e *Error) Error() string {
	if e.Entry == "" {
		return fmt.Sprintf("%s: %v", e.File, e.Err)
	}
	return fmt.Sprintf("%s: %s: %v", e.File, e.Entry, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// Archive is an open zip archive read under Limits. It is not safe for
// concurrent use.
type Archive struct {
	Name   string
	limits Limits
	zr     *zip.Reader
	files  map[string]*zip.File
	closer io.Closer
	total  int64
}

// Open opens the zip file at path.
func Open(path string, l Limits) (*Archive, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	a, err := New(f, st.Size(), path, l)
	if err != nil {
		f.Close()
		return nil, err
	}
	a.closer = f
	return a, nil
}

// New reads the central directory of the size-byte zip in r; name is used
// in errors.
func New(r io.ReaderAt, size int64, name string, l Limits) (a *Archive, err error) {
	defer func() {
		if p := recover(); p != nil {
			a, err = nil, &Error{File: name, Err: fmt.Errorf("%w: %v", ErrCorrupt, p)}
		}
	}()
	zr, err := zip.NewReader(r, size)
	if err != nil {
		if errors.Is(err, zip.ErrFormat) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return nil, &Error{File: name, Err: fmt.Errorf("%w: %v", ErrNotZip, err)}
		}
		if errors.Is(err, zip.ErrInsecurePath) {
			// Names like "../x" are refused later by lookups; the
			// archive itself is still readable.
		} else {
			return nil, &Error{File: name, Err: err}
		}
	}
	if l.MaxEntries > 0 && len(zr.File) > l.MaxEntries {
		return nil, &Error{File: name, Err: fmt.Errorf("%w: %d entries (limit %d)", ErrZipBomb, len(zr.File), l.MaxEntries)}
	}
	a = &Archive{Name: name, limits: l, zr: zr, files: make(map[string]*zip.File, len(zr.File))}
	type span struct {
		start, end int64
		name       string
	}
	spans := make([]span, 0, len(zr.File))
	for _, f := range zr.File {
		if _, dup := a.files[f.Name]; dup {
			return nil, &Error{File: name, Entry: f.Name, Err: fmt.Errorf("%w: duplicate entry name", ErrCorrupt)}
		}
		a.files[f.Name] = f
		off, err := f.DataOffset()
		if err != nil {
			return nil, &Error{File: name, Entry: f.Name, Err: fmt.Errorf("%w: %v", ErrTruncated, err)}
		}
		if off < 0 || off+int64(f.CompressedSize64) > size || int64(f.CompressedSize64) < 0 {
			return nil, &Error{File: name, Entry: f.Name, Err: fmt.Errorf("%w: entry data runs past the end of the archive", ErrTruncated)}
		}
		spans = append(spans, span{off, off + int64(f.CompressedSize64), f.Name})
	}
	sort.Slice(spans, func(i, j int) bool { return spans[i].start < spans[j].start })
	for i := 1; i < len(spans); i++ {
		if spans[i].start < spans[i-1].end && spans[i].end > spans[i].start {
			return nil, &Error{File: name, Entry: spans[i].name,
				Err: fmt.Errorf("%w: its data overlaps entry %q", ErrZipBomb, spans[i-1].name)}
		}
	}
	return a, nil
}

// Close closes the underlying file when the Archive was opened by [Open].
func (a *Archive) Close() error {
	if a.closer != nil {
		return a.closer.Close()
	}
	return nil
}

// Names lists the entries in central-directory order.
func (a *Archive) Names() []string {
	out := make([]string, 0, len(a.zr.File))
	for _, f := range a.zr.File {
		out = append(out, f.Name)
	}
	return out
}

// Has reports whether the archive has an entry called name.
func (a *Archive) Has(name string) bool { _, ok := a.files[name]; return ok }

// Size returns the declared decompressed size of entry name.
func (a *Archive) Size(name string) int64 {
	if f, ok := a.files[name]; ok {
		return int64(f.UncompressedSize64)
	}
	return -1
}

// Find returns the entries for which match returns true, in order.
func (a *Archive) Find(match func(name string) bool) []string {
	var out []string
	for _, f := range a.zr.File {
		if match(f.Name) {
			out = append(out, f.Name)
		}
	}
	return out
}

// Read returns the decompressed bytes of entry name under the limits.
func (a *Archive) Read(name string) ([]byte, error) {
	return a.ReadMax(name, a.limits.MaxEntry)
}

// ReadMax is Read with a tighter per-entry limit (max <= 0 means the
// archive's MaxEntry).
func (a *Archive) ReadMax(name string, max int64) (b []byte, err error) {
	fail := func(e error) error { return &Error{File: a.Name, Entry: name, Err: e} }
	f, ok := a.files[name]
	if !ok {
		return nil, fail(ErrNotFound)
	}
	if max <= 0 || (a.limits.MaxEntry > 0 && max > a.limits.MaxEntry) {
		max = a.limits.MaxEntry
	}
	if f.FileInfo().IsDir() {
		return nil, fail(errors.New("is a directory"))
	}
	declared := int64(f.UncompressedSize64)
	if declared < 0 || declared > max {
		return nil, fail(fmt.Errorf("%w: declares %d bytes (limit %d)", ErrTooLarge, f.UncompressedSize64, max))
	}
	if a.limits.MaxRatio > 0 && declared > 1<<20 && (f.CompressedSize64 == 0 || declared/int64(f.CompressedSize64) > a.limits.MaxRatio) {
		return nil, fail(fmt.Errorf("%w: compression ratio over %d:1", ErrZipBomb, a.limits.MaxRatio))
	}
	if a.limits.MaxTotal > 0 && a.total+declared > a.limits.MaxTotal {
		return nil, fail(fmt.Errorf("%w (%d bytes)", ErrTotal, a.limits.MaxTotal))
	}
	defer func() {
		if p := recover(); p != nil {
			b, err = nil, fail(fmt.Errorf("%w: %v", ErrCorrupt, p))
		}
	}()
	rc, err := f.Open()
	if err != nil {
		return nil, fail(classify(err))
	}
	defer rc.Close()
	// Never trust the declared size: read at most one byte more than it.
	buf := make([]byte, 0, declared)
	w := &limitedBuffer{b: buf, max: declared}
	n, err := io.Copy(w, rc)
	a.total += n
	if err != nil {
		if errors.Is(err, errOverflow) {
			return nil, fail(fmt.Errorf("%w: inflates past its declared size %d", ErrZipBomb, declared))
		}
		return nil, fail(classify(err))
	}
	if n != declared {
		return nil, fail(fmt.Errorf("%w: %d of %d bytes", ErrTruncated, n, declared))
	}
	if crc32.ChecksumIEEE(w.b) != f.CRC32 && f.CRC32 != 0 {
		return nil, fail(fmt.Errorf("%w: checksum mismatch", ErrCorrupt))
	}
	return w.b, nil
}

var errOverflow = errors.New("overflow")

type limitedBuffer struct {
	b   []byte
	max int64
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if int64(len(l.b))+int64(len(p)) > l.max {
		return 0, errOverflow
	}
	l.b = append(l.b, p...)
	return len(p), nil
}

func classify(err error) error {
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return fmt.Errorf("%w: %v", ErrTruncated, err)
	case errors.Is(err, zip.ErrChecksum), errors.Is(err, zip.ErrFormat), errors.Is(err, zip.ErrAlgorithm):
		return fmt.Errorf("%w: %v", ErrCorrupt, err)
	case strings.Contains(err.Error(), "flate"):
		return fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	return err
}
