#!/usr/bin/env bash
# Benchmark: `pinset scan` against `apktool d` (the decode step that
# MobSF-style scanners start with) on each sample APK, in the same run.
#
# Usage: bench/scan.sh [SAMPLES_DIR] [RUNS]
#   SAMPLES_DIR defaults to ../shared/samples (relative to the repository root)
#   RUNS        defaults to 5
# Needs: go, apktool (Debian package apktool); uses hyperfine when installed.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
samples=${1:-$root/../shared/samples}
runs=${2:-5}
command -v apktool >/dev/null || { echo "bench/scan.sh: apktool not found (apt-get install apktool)" >&2; exit 1; }
[ -d "$samples/android" ] || { echo "bench/scan.sh: no $samples/android" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$root" && go build -o "$work/pinset" ./cmd/pinset)

# mean_ms CMD...: runs CMD $runs times after one warm-up, prints the mean
# wall time in milliseconds.
mean_ms() {
	"$@" >/dev/null 2>&1 || true
	local total=0 start end
	for _ in $(seq "$runs"); do
		start=$(date +%s%N)
		"$@" >/dev/null 2>&1 || true
		end=$(date +%s%N)
		total=$((total + (end - start) / 1000))
	done
	echo "scale=1; $total / $runs / 1000" | bc
}

echo "machine: $(nproc) cores, $(go version | cut -d' ' -f3-4), apktool $(apktool --version 2>/dev/null | tail -1)"
printf '%-28s %12s %14s %8s\n' sample "pinset ms" "apktool d ms" ratio
for apk in "$samples"/android/*.apk; do
	name=$(basename "$apk")
	if command -v hyperfine >/dev/null; then
		hyperfine --warmup 1 --runs "$runs" --export-json "$work/h.json" \
			"$work/pinset scan $apk" "apktool d -f -o $work/out $apk" >/dev/null
		p=$(jq '.results[0].mean * 1000' "$work/h.json")
		a=$(jq '.results[1].mean * 1000' "$work/h.json")
	else
		p=$(mean_ms "$work/pinset" scan "$apk")
		a=$(mean_ms apktool d -f -o "$work/out" "$apk")
	fi
	printf '%-28s %12.1f %14.1f %7.0fx\n' "$name" "$p" "$a" "$(echo "$a / $p" | bc -l)"
done
