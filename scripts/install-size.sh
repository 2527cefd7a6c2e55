#!/usr/bin/env bash
# What installing amps costs: node_modules size, package count and `npm ci` time, for one or more
# commits side by side (README.md, "Install size"). Each commit's tree is checked out into a
# temporary folder with its own empty npm cache, then, per commit:
#   cold  `npm ci` with the empty cache: every tarball comes from the registry (network needed)
#   warm  `npm ci` again after deleting node_modules: every tarball comes from that cache
#   prod  `npm ci --omit=dev` from the warm cache: what a user who only runs amps gets
# Runs are interleaved (cold A, cold B, warm A, warm B, …) so a change in machine load or network
# speed during the run hits every commit alike. Times are wall-clock seconds on this machine as it
# is at the moment: run it on a quiet machine to compare with the README.
# `--ignore-scripts` keeps amps' own `prepare` (the tsc build, the same for every commit) out of the
# timings; dependencies' install scripts are off anyway (package.json "allowScripts").
# Usage: scripts/install-size.sh [commit ...]   (default: main and HEAD)
# Environment: INSTALL_SIZE_KEEP=1 keeps the temporary folder.
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
[ "$#" -gt 0 ] || set -- main HEAD
work="$(mktemp -d "${TMPDIR:-/tmp}/amps-install-size-XXXXXX")"
cleanup() { if [ -z "${INSTALL_SIZE_KEEP:-}" ]; then rm -rf "$work"; else echo "kept $work" >&2; fi; }
trap cleanup EXIT

labels=()
for ref in "$@"; do
  sha="$(git -C "$repo" rev-parse --verify --quiet "$ref^{commit}")" || {
    echo "Error: '$ref' is not a commit in $repo" >&2
    echo "Hint: pass a branch, tag or commit hash, e.g. scripts/install-size.sh main HEAD" >&2
    exit 2
  }
  label="${sha:0:8}"
  mkdir -p "$work/$label/src" "$work/$label/cache"
  git -C "$repo" archive "$sha" | tar -x -C "$work/$label/src"
  labels+=("$label")
  echo "$label = $ref ($(git -C "$repo" log -1 --format=%s "$sha" | cut -c1-70))" >&2
done

# install <label> <kind>: one timed `npm ci`, then records seconds, bytes and packages
install() {
  local label="$1" kind="$2" dir="$work/$1/src" start end extra=()
  [ "$kind" = prod ] && extra=(--omit=dev)
  rm -rf "$dir/node_modules"
  echo "[$label $kind] npm ci ${extra[*]:-}" >&2
  start=$(date +%s.%N)
  (cd "$dir" && npm ci --ignore-scripts --no-audit --no-fund --cache "$work/$label/cache" "${extra[@]}" >"$work/$label/$kind.log" 2>&1) || {
    tail -n 20 "$work/$label/$kind.log" >&2
    echo "Error: npm ci failed for $label ($kind); log above" >&2
    exit 1
  }
  end=$(date +%s.%N)
  awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f\n", b - a }' >"$work/$label/$kind.secs"
  du -sb "$dir/node_modules" | cut -f1 >"$work/$label/$kind.bytes"
  # npm's own record of what it put on disk (node_modules/.package-lock.json), one entry per package
  node -e 'console.log(Object.keys(require(process.argv[1]).packages).length)' "$dir/node_modules/.package-lock.json" >"$work/$label/$kind.count"
  du -sb "$dir/node_modules/@tensorflow"/* 2>/dev/null | awk '{ n = split($2, p, "/"); printf "%s=%.1f ", p[n], $1 / 1e6 }' >"$work/$label/$kind.tf"
}

for kind in cold warm prod; do
  for label in "${labels[@]}"; do install "$label" "$kind"; done
done

mb() { awk -v b="$(cat "$1")" 'BEGIN { printf "%.0f MB", b / 1e6 }'; }
printf '\n| %-38s |' ""
for label in "${labels[@]}"; do printf ' %-16s |' "$label"; done
printf '\n|-%s-|' "$(printf '%.0s-' {1..38})"
for label in "${labels[@]}"; do printf -- '-%s:|' "$(printf '%.0s-' {1..16})"; done
printf '\n'
row() {
  printf '| %-38s |' "$1"
  for label in "${labels[@]}"; do printf ' %16s |' "$("$2" "$work/$label/$3")"; done
  printf '\n'
}
secs() { echo "$(cat "$1.secs") s"; }
bytes() { mb "$1.bytes"; }
count() { cat "$1.count"; }
row '`npm ci`, cold cache (s)' secs cold
row '`npm ci`, warm cache (s)' secs warm
row '`npm ci --omit=dev`, warm cache (s)' secs prod
row 'node_modules (`du -sb`)' bytes warm
row 'node_modules, `--omit=dev`' bytes prod
row 'packages' count warm
row 'packages, `--omit=dev`' count prod
echo
for label in "${labels[@]}"; do echo "$label @tensorflow/* (MB): $(cat "$work/$label/warm.tf")"; done
echo "npm $(npm --version), node $(node --version), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
