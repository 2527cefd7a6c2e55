#!/usr/bin/env bash
# "Tried as a new user": clone this repository to a temporary folder, run the README's two set-up
# commands, then plan → report → export → deploy (local) → invoke → destroy on the bundled example,
# as someone following the README would. Fails on:
#   - any command exiting non-zero (except the deliberate mistake at the end, which must exit 2),
#   - a stack trace in any output,
#   - an error line without a "Hint:" line after it,
#   - any command slower than the README says (the limits below are the ones in README.md's
#     "How long things take" table; keep the two in step).
# Usage: scripts/newcomer.sh [repo-dir-or-url]   (default: this repository)
# Environment: NEWCOMER_KEEP=1 keeps the temporary folder; NEWCOMER_SKIP_INSTALL=1 links this
# checkout's node_modules instead of running `npm install` (for a quick local check only).
set -euo pipefail

repo="${1:-$(cd "$(dirname "$0")/.." && pwd)}"
work="$(mktemp -d "${TMPDIR:-/tmp}/amps-newcomer-XXXXXX")"
cleanup() {
  # stop anything the run left deployed, then remove the folder
  if [ -f "$work/amps/deployment.json" ]; then (cd "$work/amps" && npx --no-install amps destroy deployment.json --force >/dev/null 2>&1 || true); fi
  if [ -z "${NEWCOMER_KEEP:-}" ]; then rm -rf "$work"; else echo "kept $work"; fi
}
trap cleanup EXIT

# seconds each step may take (README.md, "How long things take")
declare -A LIMIT=(
  [install]=600 [plan]=300 [report]=300 [export]=120 [deploy]=180 [invoke]=120 [destroy]=60 [mistake]=30
)

failures=0
fail() {
  echo "NEWCOMER FAIL: $*" >&2
  failures=$((failures + 1))
}

# run <step> <expected exit> <command...>: times it, keeps its output, checks the rules above
run() {
  local step="$1" expect="$2"
  shift 2
  local out="$work/$step.log" start end secs code
  echo "\$ $*" >&2
  start=$(date +%s.%N)
  set +e
  "$@" >"$out" 2>&1
  code=$?
  set -e
  end=$(date +%s.%N)
  secs=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }')
  sed 's/^/    /' "$out" | tail -n 25 >&2
  echo "    [$step: exit $code in ${secs} s, limit ${LIMIT[$step]} s]" >&2
  [ "$code" = "$expect" ] || fail "$step exited $code (expected $expect)"
  awk -v s="$secs" -v l="${LIMIT[$step]}" 'BEGIN { exit !(s > l) }' && fail "$step took ${secs} s, more than the README's ${LIMIT[$step]} s"
  if grep -Eq '^\s+at .+:[0-9]+:[0-9]+\)?$' "$out"; then fail "$step printed a stack trace"; fi
  if grep -q 'probably a bug' "$out"; then fail "$step reported a bug in amps"; fi
  # every error line must be followed by a hint
  if awk '/^Error: /{e=1; next} e && /^Hint: /{e=0} END{exit !e}' "$out"; then fail "$step printed an error without a hint"; fi
  return 0
}

echo "cloning $repo into $work/amps" >&2
git clone --quiet "$repo" "$work/amps"
cd "$work/amps"
export AMPS_CACHE_DIR="$work/cache" CI=true NO_COLOR=1

# the README's two set-up commands
if [ -n "${NEWCOMER_SKIP_INSTALL:-}" ]; then
  ln -s "$repo/node_modules" node_modules
  run install 0 npm run build --silent
else
  run install 0 npm install --no-audit --no-fund
fi
run plan 0 npx --no-install amps plan examples/tiny-cnn --slo 100 --rate 10

# then what the README shows next
if [ -f dist/src/commands/report.js ]; then run report 0 npx --no-install amps report plan.json -o report.html; fi
if [ -f dist/src/commands/export.js ]; then run export 0 npx --no-install amps export plan.json --format sam -o template.json; fi
run deploy 0 npx --no-install amps deploy plan.json
run invoke 0 npx --no-install amps invoke deployment.json --compare
run destroy 0 npx --no-install amps destroy deployment.json --force
# a typical mistake (--rate 0): one line, a hint, exit 2
run mistake 2 npx --no-install amps estimate-cost plan.json --rate 0

[ -f plan.json ] || fail "plan.json was not written"
if [ -f dist/src/commands/report.js ]; then [ -s report.html ] || fail "report.html was not written"; fi
if [ -f dist/src/commands/export.js ]; then [ -s template.json ] || fail "template.json was not written"; fi

if [ "$failures" -gt 0 ]; then
  echo "newcomer: $failures problem(s)" >&2
  exit 1
fi
echo "newcomer: every step worked, within the README's times, with no stack trace and a hint on every error" >&2
