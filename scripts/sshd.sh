#!/usr/bin/env bash
# Starts a throw-away sshd on 127.0.0.1 for the SFTP backend tests, with its
# own host key and a client key made for this run, and prints the
# environment the tests read. `scripts/sshd.sh stop DIR` stops it.
set -euo pipefail
if [ "${1:-}" = stop ]; then
  dir=$2
  [ -f "$dir/sshd.pid" ] && kill "$(cat "$dir/sshd.pid")" 2>/dev/null || true
  rm -rf "$dir"
  exit 0
fi
sshd=$(command -v sshd || echo /usr/sbin/sshd)
[ -x "$sshd" ] || { echo "sshd not installed" >&2; exit 1; }
dir=$(mktemp -d /tmp/cairn-sshd.XXXXXX)
chmod 755 "$dir"
ssh-keygen -q -t ed25519 -N '' -f "$dir/host_key"
ssh-keygen -q -t ed25519 -N '' -f "$dir/client_key"
cp "$dir/client_key.pub" "$dir/authorized_keys"
chmod 600 "$dir/authorized_keys"
mkdir -p /run/sshd 2>/dev/null || true
user=$(id -un)
for port in $(seq 22220 22299); do
  cat >"$dir/sshd_config" <<CFG
Port $port
ListenAddress 127.0.0.1
HostKey $dir/host_key
AuthorizedKeysFile $dir/authorized_keys
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
PermitRootLogin prohibit-password
StrictModes no
UsePAM no
Subsystem sftp internal-sftp
PidFile $dir/sshd.pid
CFG
  if "$sshd" -f "$dir/sshd_config" -E "$dir/sshd.log" 2>/dev/null; then
    for _ in $(seq 50); do
      [ -s "$dir/sshd.pid" ] && break
      sleep 0.1
    done
    [ -s "$dir/sshd.pid" ] && break
  fi
done
[ -s "$dir/sshd.pid" ] || { echo "sshd did not start: $(tail -3 "$dir/sshd.log")" >&2; exit 1; }
cat >"$dir/ssh_config" <<CFG
Host cairn-test
  HostName 127.0.0.1
  Port $port
  User $user
  IdentityFile $dir/client_key
  IdentitiesOnly yes
  BatchMode yes
  StrictHostKeyChecking no
  UserKnownHostsFile /dev/null
  LogLevel ERROR
CFG
mkdir -p "$dir/repos"
echo "export CAIRN_TEST_SSHD_DIR=$dir"
echo "export CAIRN_TEST_SFTP=sftp://$user@127.0.0.1:$port/$dir/repos"
echo "export CAIRN_TEST_SFTP_COMMAND='ssh -F $dir/ssh_config cairn-test -s sftp'"
