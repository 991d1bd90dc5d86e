#!/usr/bin/env bash
# The whole test suite: formatting, vet, staticcheck, unit and end-to-end
# tests (race detector on the library), and a short run of every fuzz
# target. CAIRN_SOAK=1 runs the fuzzers longer (CI sets it).
set -euo pipefail
cd "$(dirname "$0")/.."

fuzztime=${FUZZTIME:-10s}
if [ "${CAIRN_SOAK:-}" = 1 ]; then
  fuzztime=${FUZZTIME:-60s}
fi

# Test servers on 127.0.0.1, stopped when the script ends, also on failure.
# Without sshd the SFTP tests skip, except under CI (which installs it).
# Without MinIO (scripts/minio.sh build) the S3 tests skip, except under CI.
stop_servers() {
  [ -n "${CAIRN_TEST_SSHD_DIR:-}" ] && scripts/sshd.sh stop "$CAIRN_TEST_SSHD_DIR"
  [ -n "${CAIRN_TEST_MINIO_DIR:-}" ] && scripts/minio.sh stop "$CAIRN_TEST_MINIO_DIR"
  return 0
}
trap stop_servers EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
if command -v sshd >/dev/null 2>&1 || [ -x /usr/sbin/sshd ]; then
  eval "$(scripts/sshd.sh)"
  echo "== sshd for the SFTP tests: $CAIRN_TEST_SFTP"
fi
if command -v minio >/dev/null 2>&1 || [ -x "$(go env GOPATH)/bin/minio" ]; then
  eval "$(scripts/minio.sh)"
  echo "== MinIO for the S3 tests: $CAIRN_TEST_S3"
fi

echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
  echo "gofmt would change: $unformatted" >&2
  exit 1
fi

echo "== go vet"
go vet ./...

echo "== build and vet for every platform"
# cairn ships for these; platform code sits behind build tags with a
# fallback for each. Tests that need Linux (the end-to-end suite) are
# tagged; the rest, the path mapping among them, vet everywhere.
for target in linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 freebsd/amd64 windows/amd64; do
  echo "-- $target"
  GOOS=${target%/*} GOARCH=${target#*/} go build -o /dev/null ./cmd/cairn
  GOOS=${target%/*} GOARCH=${target#*/} go vet ./...
done

echo "== staticcheck"
go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

echo "== go test"
go test -count=1 -timeout 40m ./...

echo "== go test -race (library)"
go test -count=1 -race -timeout 20m ./pack/... ./index/... ./chunker/... ./repo/...

echo "== fuzz ($fuzztime each)"
# Go's fuzzer sometimes ends with "context deadline exceeded" when its time
# runs out while a worker is busy (golang/go#56238); that is not a finding,
# so such a run is repeated once. A real finding writes a failing input
# under testdata/fuzz and always fails the suite.
fuzz() { # package target
  local log
  log=$(mktemp)
  for attempt in 1 2; do
    if go test -run '^$' -fuzz "^$2\$" -fuzztime "$fuzztime" "$1" 2>&1 | tee "$log"; [ "${PIPESTATUS[0]}" = 0 ]; then
      rm -f "$log"
      return 0
    fi
    if grep -q "Failing input written to" "$log" || ! grep -q "context deadline exceeded" "$log"; then
      rm -f "$log"
      return 1
    fi
    echo "fuzzer $2 stopped by its deadline (attempt $attempt), not by a finding"
  done
  rm -f "$log"
  return 1
}
fuzz ./pack FuzzReadHeader
fuzz ./index FuzzDecode
fuzz ./repo/crypto FuzzParseKeyFile
fuzz ./repo/snapshot FuzzDecodeTree
fuzz ./repo/snapshot FuzzDecodeSnapshot
fuzz ./repo/parity FuzzRepair

echo "== all tests passed"
