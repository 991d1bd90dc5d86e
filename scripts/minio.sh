#!/usr/bin/env bash
# Starts a throw-away MinIO server on 127.0.0.1 for the S3 backend tests
# and prints the environment the tests read. `scripts/minio.sh build`
# installs the pinned MinIO into $(go env GOPATH)/bin once (a few minutes;
# later runs reuse it); `scripts/minio.sh stop DIR` stops the server.
set -euo pipefail
version=v0.0.0-20260212201848-7aac2a2c5b7c
bin="$(go env GOPATH)/bin/minio"
case "${1:-start}" in
build)
  if [ ! -x "$bin" ]; then
    echo "building minio@$version (cached in $bin) ..." >&2
    GOFLAGS= go install "github.com/minio/minio@$version" >&2
  fi
  exit 0
  ;;
stop)
  dir=$2
  [ -f "$dir/pid" ] && kill "$(cat "$dir/pid")" 2>/dev/null || true
  rm -rf "$dir"
  exit 0
  ;;
esac
command -v minio >/dev/null 2>&1 && bin=$(command -v minio)
[ -x "$bin" ] || { echo "minio not installed (scripts/minio.sh build)" >&2; exit 1; }
dir=$(mktemp -d /tmp/cairn-minio.XXXXXX)
user=cairn-test
pass=$(head -c 18 /dev/urandom | od -An -tx1 | tr -d ' \n')
for port in $(seq 29000 29099); do
  if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    break
  fi
done
MINIO_ROOT_USER=$user MINIO_ROOT_PASSWORD=$pass MINIO_BROWSER=off \
  nohup "$bin" server --quiet --address "127.0.0.1:$port" "$dir/data" >"$dir/log" 2>&1 &
echo $! >"$dir/pid"
live() { # GET /minio/health/live answers 200 once the server is ready
  (
    exec 3<>"/dev/tcp/127.0.0.1/$port"
    printf 'GET /minio/health/live HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3
    head -1 <&3
  ) 2>/dev/null | grep -q ' 200 '
}
ready=""
for _ in $(seq 150); do
  if live; then ready=1; break; fi
  sleep 0.2
done
[ -n "$ready" ] || { echo "minio did not start: $(tail -3 "$dir/log")" >&2; kill "$(cat "$dir/pid")" 2>/dev/null; exit 1; }
echo "export CAIRN_TEST_MINIO_DIR=$dir"
echo "export CAIRN_TEST_S3=s3:http://127.0.0.1:$port/cairn-test"
echo "export CAIRN_TEST_S3_KEY=$user CAIRN_TEST_S3_SECRET=$pass"
