package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"pinset.dev/pinset/internal/atomicfile"
)

// The commands write their output files through these helpers, so that
// every output file is written atomically (a temporary file in the same
// directory, fsync, rename; removed on error and on Ctrl-C), an existing
// file is replaced only with --force (or by an in-place edit such as
// 'pinset sign'), and errors name the output, never the temporary file.

// refuseExisting returns the error for an output that exists without
// --force, with the hint every command gives.
func refuseExisting(name string) error {
	return errorWithHint(fmt.Errorf("%s already exists", name), "choose another name, or pass --force to overwrite it")
}

// checkOutput refuses, before any work is done, an output file that exists
// when force is false. Standard output ("" or "-") is always fine.
func checkOutput(name string, force bool) error {
	if name == "" || name == "-" || force {
		return nil
	}
	if err := atomicfile.CheckNew(name); err != nil {
		return refuseExisting(name)
	}
	return nil
}

// writeFileAtomic writes data to name atomically with mode perm, replacing an
// existing file only when force is true.
func writeFileAtomic(name string, data []byte, perm os.FileMode, force bool) error {
	err := atomicfile.WriteFile(name, data, atomicfile.Options{Perm: perm, NoReplace: !force})
	if errors.Is(err, atomicfile.ErrExist) {
		return refuseExisting(name)
	}
	return err
}

// replaceFile rewrites an existing file in place, atomically, keeping its
// mode (pinset sign).
func replaceFile(name string, data []byte) error {
	return atomicfile.WriteFile(name, data, atomicfile.Options{Perm: 0o644, KeepMode: true})
}

// writeJSON prints v as JSON indented by two spaces: every --json output
// goes through it. A failed write is an error (the output is cut short).
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// writeOutput writes a document to -o FILE (see writeFileAtomic), or to standard
// output when the name is empty or "-".
func writeOutput(cmd *cobra.Command, name string, data []byte, force bool) error {
	if name == "" || name == "-" {
		_, err := cmd.OutOrStdout().Write(data)
		return err
	}
	return writeFileAtomic(name, data, 0o644, force)
}
