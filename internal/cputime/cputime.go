// Package cputime reads CPU time for benchmarks on a shared machine:
// wall time there includes waiting for a core, CPU time does not, so a
// ratio of two CPU times survives other processes' load.
package cputime

import "time"

// Thread is the CPU time of the calling OS thread (pin the goroutine with
// runtime.LockOSThread first), or 0 where the platform does not say.
func Thread() time.Duration { return read(clockThread) }

// Process is the CPU time of the whole process (every thread), or 0 where
// the platform does not say.
func Process() time.Duration { return read(clockProcess) }

// Supported reports whether Thread and Process measure anything here.
func Supported() bool { return supported }
