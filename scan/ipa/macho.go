package ipa

import (
	"bytes"
	"debug/macho"
	"fmt"
)

// Load command numbers debug/macho does not name.
const (
	lcEncryptionInfo   = 0x21
	lcEncryptionInfo64 = 0x2C
	lcCodeSignature    = 0x1D
)

// Binary is what pinset reads from the app's main executable.
type Binary struct {
	Entry string
	// Encrypted is true when an architecture has LC_ENCRYPTION_INFO with
	// cryptid != 0 (FairPlay): its strings cannot be read statically.
	Encrypted bool
	Archs     []string
	Err       error // why the executable could not be read
	// Signature are the byte ranges of code signatures: their certificates
	// carry Apple's CRL and OCSP URLs, which are not the app's traffic.
	Signature [][2]int64
}

// ParseMachO reads the load commands of a thin or universal Mach-O.
func ParseMachO(b []byte) (bin *Binary, err error) {
	defer func() {
		if p := recover(); p != nil {
			bin, err = nil, fmt.Errorf("malformed Mach-O: %v", p)
		}
	}()
	bin = &Binary{}
	var files []*macho.File
	var offsets []int64
	if ff, ferr := macho.NewFatFile(bytes.NewReader(b)); ferr == nil {
		defer ff.Close()
		for _, a := range ff.Arches {
			files = append(files, a.File)
			offsets = append(offsets, int64(a.Offset))
		}
	} else {
		f, err := macho.NewFile(bytes.NewReader(b))
		if err != nil {
			return nil, fmt.Errorf("not a Mach-O executable: %v", err)
		}
		defer f.Close()
		files = append(files, f)
		offsets = append(offsets, 0)
	}
	for i, f := range files {
		bin.Archs = append(bin.Archs, f.Cpu.String())
		for _, l := range f.Loads {
			raw := l.Raw()
			if len(raw) < 8 {
				continue
			}
			cmd := f.ByteOrder.Uint32(raw)
			if cmd == lcCodeSignature && len(raw) >= 16 {
				off := offsets[i] + int64(f.ByteOrder.Uint32(raw[8:]))
				bin.Signature = append(bin.Signature, [2]int64{off, off + int64(f.ByteOrder.Uint32(raw[12:]))})
				continue
			}
			if cmd != lcEncryptionInfo && cmd != lcEncryptionInfo64 {
				continue
			}
			if len(raw) < 20 {
				return nil, fmt.Errorf("malformed Mach-O: LC_ENCRYPTION_INFO of %d bytes", len(raw))
			}
			if f.ByteOrder.Uint32(raw[16:]) != 0 {
				bin.Encrypted = true
			}
		}
	}
	return bin, nil
}

// blank zeroes the ranges of b (clipped to its length).
func blank(b []byte, ranges [][2]int64) {
	for _, r := range ranges {
		lo, hi := max(r[0], 0), min(r[1], int64(len(b)))
		if lo < hi {
			clear(b[lo:hi])
		}
	}
}
