package ipa

import (
	"bytes"
	"debug/macho"
	"encoding/binary"
	"fmt"
)

// Load command numbers debug/macho does not name.
const (
	lcEncryptionInfo   = 0x21
	lcEncryptionInfo64 = 0x2C
)

// Binary is what pinset reads from the app's main executable.
type Binary struct {
	Entry string
	// Encrypted is true when an architecture has LC_ENCRYPTION_INFO with
	// cryptid != 0 (FairPlay): its strings cannot be read statically.
	Encrypted bool
	Archs     []string
	Err       error // why the executable could not be read
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
	if ff, ferr := macho.NewFatFile(bytes.NewReader(b)); ferr == nil {
		defer ff.Close()
		for _, a := range ff.Arches {
			files = append(files, a.File)
		}
	} else {
		f, err := macho.NewFile(bytes.NewReader(b))
		if err != nil {
			return nil, fmt.Errorf("not a Mach-O executable: %v", err)
		}
		defer f.Close()
		files = append(files, f)
	}
	for _, f := range files {
		bin.Archs = append(bin.Archs, f.Cpu.String())
		for _, l := range f.Loads {
			raw := l.Raw()
			if len(raw) < 8 {
				continue
			}
			cmd := f.ByteOrder.Uint32(raw)
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

var _ = binary.LittleEndian
