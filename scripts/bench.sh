#!/usr/bin/env bash
# End-to-end benchmark of cairn against restic on the same data, in the
# same run, alternating the two tools step by step.
#
# Data sets: a copy of $(go env GOROOT) (many small files) and a ~1 GB mix
# of text, compressible binary, random and VM-image-like files
# (scripts/gendata). Steps: init, first backup, unchanged backup, full
# restore, single-file restore, check --read-data; and cairn's first backup with parity 10+2
# against its first backup without; the first backup through `cairn serve`
# on loopback against the same backup to a local directory. Per step: wall time, CPU time (user+sys)
# and peak RSS; per data set: repository size. Then cairn/restic ratios.
#
# Environment: RESTIC (restic binary; default: $(go env GOPATH)/bin/restic,
# built with `go install github.com/restic/restic/cmd/restic@v0.19.1` when
# missing), BENCH_DIR (scratch space, default a temp dir), MIX_MIB (size of
# the mix, default 1024), REPS (runs per step, the fastest is kept; default 1),
# SMALL_FILES and MILLION_FILES (file counts of the small-file steps; 0 skips
# the million), INDEX_BLOBS (blobs of the index memory benchmark, default 10M).
set -euo pipefail
cd "$(dirname "$0")/.."

REPS=${REPS:-1}
MIX_MIB=${MIX_MIB:-1024}
BENCH_DIR=${BENCH_DIR:-$(mktemp -d /tmp/cairn-bench.XXXXXX)}
RESTIC=${RESTIC:-$(go env GOPATH)/bin/restic}
TIME=/usr/bin/time

if [ ! -x "$TIME" ]; then
  apt-get update -qq && apt-get install -y -qq time >/dev/null
fi
if [ ! -x "$RESTIC" ]; then
  echo "building restic v0.19.1 ..." >&2
  GOFLAGS= go install github.com/restic/restic/cmd/restic@v0.19.1
fi

mkdir -p "$BENCH_DIR"
CAIRN="$BENCH_DIR/cairn"
go build -o "$CAIRN" ./cmd/cairn
echo "cairn:  $("$CAIRN" version)"
echo "restic: $("$RESTIC" version)"
echo "data under $BENCH_DIR; $(nproc) cores"

export CAIRN_PASSWORD=bench RESTIC_PASSWORD=bench
# Let restic use its default cache like an admin's machine does.
export RESTIC_CACHE_DIR="$BENCH_DIR/restic-cache"

goroot=$(go env GOROOT)
if [ ! -d "$BENCH_DIR/data/goroot" ]; then
  mkdir -p "$BENCH_DIR/data"
  cp -a "$goroot" "$BENCH_DIR/data/goroot"
fi
if [ ! -d "$BENCH_DIR/data/mix" ]; then
  go run ./scripts/gendata -dir "$BENCH_DIR/data/mix" -mib "$MIX_MIB"
fi

results="$BENCH_DIR/results.tsv"
: >"$results"

# measure LABEL TOOL CMD... — run REPS times, keep the fastest.
measure() {
  local label=$1 tool=$2
  shift 2
  local best="" out="$BENCH_DIR/time.out"
  for _ in $(seq "$REPS"); do
    if [ -n "${BEFORE:-}" ]; then eval "$BEFORE"; fi
    if ! "$TIME" -f '%e %U %S %M' -o "$out" "$@" >/dev/null 2>"$BENCH_DIR/stderr.log"; then
      echo "FAILED: $tool $label: $*" >&2
      tail -5 "$BENCH_DIR/stderr.log" >&2
      exit 1
    fi
    read -r wall user sys rss <"$out"
    if [ -z "$best" ] || awk -v a="$wall" -v b="${best%% *}" 'BEGIN{exit !(a<b)}'; then
      best="$wall $(awk -v u="$user" -v s="$sys" 'BEGIN{printf "%.2f", u+s}') $rss"
    fi
  done
  printf '%s\t%s\t%s\n' "$label" "$tool" "$(echo "$best" | tr ' ' '\t')" >>"$results"
}

bench_set() { # NAME SOURCE SINGLE_FILE
  local name=$1 src=$2 single=$3
  local cr="$BENCH_DIR/repo-cairn-$name" rr="$BENCH_DIR/repo-restic-$name"
  rm -rf "$cr" "$rr" "$RESTIC_CACHE_DIR"
  cat $(find "$src" -type f | head -100000) >/dev/null 2>&1 || true # warm the page cache for both
  BEFORE="rm -rf '$cr'" measure "$name init" cairn "$CAIRN" -r "$cr" init
  BEFORE="rm -rf '$rr'" measure "$name init" restic "$RESTIC" -r "$rr" init
  # First backup needs a fresh repository on every repetition.
  BEFORE="rm -rf '$cr' && '$CAIRN' -r '$cr' init >/dev/null" measure "$name first backup" cairn "$CAIRN" -r "$cr" backup -q "$src"
  BEFORE="rm -rf '$rr' '$RESTIC_CACHE_DIR' && '$RESTIC' -r '$rr' init >/dev/null" measure "$name first backup" restic "$RESTIC" -r "$rr" backup -q "$src"
  # The same first backup with parity on (10+2): its cost is compared with
  # cairn's own first backup, restic has no parity.
  local cp="$BENCH_DIR/repo-cairn-parity-$name"
  BEFORE="rm -rf '$cp' && '$CAIRN' -r '$cp' init --parity-data 10 --parity-shards 2 >/dev/null" measure "$name first backup" cairn-parity "$CAIRN" -r "$cp" backup -q "$src"
  printf '%s\t%s\t%s\n' "$name repository size" cairn-parity "$(du -sb "$cp" | cut -f1)" >>"$results"
  rm -rf "$cp"
  measure "$name unchanged backup" cairn "$CAIRN" -r "$cr" backup -q "$src"
  measure "$name unchanged backup" restic "$RESTIC" -r "$rr" backup -q "$src"
  local t="$BENCH_DIR/target"
  BEFORE="rm -rf '$t'" measure "$name full restore" cairn "$CAIRN" -r "$cr" restore latest --target "$t"
  BEFORE="rm -rf '$t'" measure "$name full restore" restic "$RESTIC" -r "$rr" restore latest --target "$t"
  BEFORE="rm -rf '$t'" measure "$name single-file restore" cairn "$CAIRN" -r "$cr" restore "latest:$single" --target "$t"
  BEFORE="rm -rf '$t'" measure "$name single-file restore" restic "$RESTIC" -r "$rr" restore latest --include "$single" --target "$t"
  rm -rf "$t"
  measure "$name check read-data" cairn "$CAIRN" -r "$cr" check --read-data
  measure "$name check read-data" restic "$RESTIC" -r "$rr" check --read-data
  printf '%s\t%s\t%s\n' "$name repository size" cairn "$(du -sb "$cr" | cut -f1)" >>"$results"
  printf '%s\t%s\t%s\n' "$name repository size" restic "$(du -sb "$rr" | cut -f1)" >>"$results"
}

# serve_step NAME SOURCE: the first backup through `cairn serve` on
# loopback (rest:), compared with cairn's first backup to a local directory.
serve_step() {
  local name=$1 src=$2 dir="$BENCH_DIR/served" port=18431
  mkdir -p "$dir"
  go run ./scripts/htpasswd bench bench >"$BENCH_DIR/htpasswd"
  "$CAIRN" serve --listen "127.0.0.1:$port" --htpasswd "$BENCH_DIR/htpasswd" --access-log /dev/null "$dir" 2>"$BENCH_DIR/serve.log" &
  local pid=$!
  for _ in $(seq 50); do grep -q "serving" "$BENCH_DIR/serve.log" && break; sleep 0.1; done
  local loc="rest:http://bench:bench@127.0.0.1:$port/repo/"
  BEFORE="rm -rf '$dir/repo' && '$CAIRN' -r '$loc' init >/dev/null" measure "$name first backup" cairn-serve "$CAIRN" -r "$loc" backup -q "$src"
  kill "$pid"
  wait "$pid" || true
  rm -rf "$dir"
}

bench_set goroot "$BENCH_DIR/data/goroot" "$BENCH_DIR/data/goroot/src/fmt/print.go"
bench_set mix "$BENCH_DIR/data/mix" "$BENCH_DIR/data/mix/vm/vm-001.dat"
serve_step goroot "$BENCH_DIR/data/goroot"
serve_step mix "$BENCH_DIR/data/mix"

# 100k small files: first backup and full restore, for their peak RSS.
if [ ! -d "$BENCH_DIR/data/small" ]; then
  go run ./scripts/gendata -dir "$BENCH_DIR/data/small" -files "${SMALL_FILES:-100000}"
fi
small_step() {
  local src="$BENCH_DIR/data/small" cr="$BENCH_DIR/repo-cairn-small" rr="$BENCH_DIR/repo-restic-small" t="$BENCH_DIR/target"
  rm -rf "$cr" "$rr"
  "$CAIRN" -r "$cr" init >/dev/null
  "$RESTIC" -r "$rr" init >/dev/null
  measure "100k files first backup" cairn "$CAIRN" -r "$cr" backup -q "$src"
  measure "100k files first backup" restic "$RESTIC" -r "$rr" backup -q "$src"
  BEFORE="rm -rf '$t'" measure "100k files full restore" cairn "$CAIRN" -r "$cr" restore latest --target "$t"
  BEFORE="rm -rf '$t'" measure "100k files full restore" restic "$RESTIC" -r "$rr" restore latest --target "$t"
  rm -rf "$t" "$cr" "$rr"
}
small_step

# 1M small files (1,000 per directory): first backup, for its peak RSS
# (target: 256 MiB). MILLION_FILES=0 skips it (the tree takes ~4 GiB).
if [ "${MILLION_FILES:-1000000}" -gt 0 ]; then
  if [ ! -d "$BENCH_DIR/data/million" ]; then
    go run ./scripts/gendata -dir "$BENCH_DIR/data/million" -files "${MILLION_FILES:-1000000}"
  fi
  million_step() {
    local src="$BENCH_DIR/data/million" cr="$BENCH_DIR/repo-cairn-million" rr="$BENCH_DIR/repo-restic-million"
    rm -rf "$cr" "$rr"
    "$CAIRN" -r "$cr" init >/dev/null
    "$RESTIC" -r "$rr" init >/dev/null
    measure "1M files first backup" cairn "$CAIRN" -r "$cr" backup -q "$src"
    measure "1M files first backup" restic "$RESTIC" -r "$rr" backup -q "$src"
    rm -rf "$cr" "$rr"
  }
  million_step
fi

# The index's memory per blob at 10M blobs, once loaded and at the peak
# while index files load (go test benchmark; budgets 64 and 100 bytes).
index_out=$(CAIRN_BENCH_BLOBS=${INDEX_BLOBS:-10000000} go test -run '^$' -bench 'BenchmarkLoaderMemory' -benchtime 1x ./index)
index_metric() { echo "$index_out" | awk -v m="$1" '{ for (i = 1; i <= NF; i++) if ($(i+1) == m) print $i }'; }
index_mem=$(index_metric bytes/blob)
index_peak=$(index_metric peak-bytes/blob)

awk -F'\t' '
  $2 == "cairn-parity" { par[$1] = $3 " " $4 " " $5; next }
  $2 == "cairn-serve" { srv[$1] = $3 " " $4 " " $5; next }
  $1 ~ /repository size/ { size[$1, $2] = $3; steps[$1] = 1; order[++n] = $1; next }
  { wall[$1, $2] = $3; cpu[$1, $2] = $4; rss[$1, $2] = $5; steps[$1] = 1; order[++n] = $1 }
  END {
    printf "%-28s %26s %26s %18s\n", "step", "cairn wall/cpu/rss", "restic wall/cpu/rss", "ratio wall / rss"
    for (i = 1; i <= n; i++) {
      s = order[i]; if (seen[s]++) continue
      if (s ~ /repository size/) {
        printf "%-28s %26s %26s %18.2f\n", s, sprintf("%.1f MiB", size[s, "cairn"] / 1048576), sprintf("%.1f MiB", size[s, "restic"] / 1048576), size[s, "cairn"] / size[s, "restic"]
        continue
      }
      c = sprintf("%.2fs %.2fs %dM", wall[s, "cairn"], cpu[s, "cairn"], rss[s, "cairn"] / 1024)
      r = sprintf("%.2fs %.2fs %dM", wall[s, "restic"], cpu[s, "restic"], rss[s, "restic"] / 1024)
      rw = wall[s, "restic"] > 0 ? wall[s, "cairn"] / wall[s, "restic"] : 0
      rr = rss[s, "restic"] > 0 ? rss[s, "cairn"] / rss[s, "restic"] : 0
      printf "%-28s %26s %26s %9.2f / %5.2f\n", s, c, r, rw, rr
    }
    printf "\nparity 10+2 (cairn with parity / cairn without)\n"
    for (s in par) {
      split(par[s], a, " ")
      if (s ~ /repository size/) printf "%-28s %10.1f MiB vs %10.1f MiB  %.3f\n", s, a[1] / 1048576, size[s, "cairn"] / 1048576, a[1] / size[s, "cairn"]
      else printf "%-28s %8.2fs vs %8.2fs wall  %.3f   rss %dM vs %dM\n", s, a[1], wall[s, "cairn"], a[1] / wall[s, "cairn"], a[3] / 1024, rss[s, "cairn"] / 1024
    }
    printf "\nthrough cairn serve on loopback (rest: / local directory; client only)\n"
    for (s in srv) {
      split(srv[s], a, " ")
      printf "%-28s %8.2fs vs %8.2fs wall  %.3f   rss %dM vs %dM\n", s, a[1], wall[s, "cairn"], a[1] / wall[s, "cairn"], a[3] / 1024, rss[s, "cairn"] / 1024
    }
  }' "$results"
echo
echo "index memory: ${index_mem:-?} bytes per blob loaded, ${index_peak:-?} at the peak of loading (index.BenchmarkLoaderMemory, ${INDEX_BLOBS:-10000000} blobs)"
