// Package repo implements the Repository: init and open, the config file,
// key files, locks and sessions, the blob store (Saver, Flush, LoadBlob),
// index persistence, reading through parity files and the local metadata
// cache. It is a small facade over parts that each own one concern: crypto
// for keys and sealing, index for locations, pack for the packfile format,
// parity for parity files, backend for storage. Snapshots and trees
// (repo/snapshot), backup (repo/archiver), restore (repo/restorer), check,
// repair and prune (repo/checker, repo/pruner) and copying (repo/copier)
// are built on it and live elsewhere.
//
// Ordering rules (DESIGN.md section 6): packs are written first, then the
// index files that list them, and only then may a snapshot reference their
// blobs (Flush returns after all three are stored). Every pack is decoded
// and its blob IDs re-checked in memory before it is uploaded.
//
// # Layout
//
// A repository is these files, by backend path (backend.Handle.Path):
//
//	config                  Seal(config JSON, "config")
//	keys/<id>               key file JSON, not sealed (repo/crypto)
//	data/<id[0:2]>/<id>     packfiles (package pack)
//	index/<id>              Seal(zstd(index file), "index") (package index)
//	snapshots/<id>          Seal(snapshot JSON, "snapshot") (repo/snapshot)
//	locks/<id>              Seal(lock JSON, "lock")
//	parity/<id[0:2]>/<id>   parity of the pack, index or snapshot file <id>,
//	                        not sealed (repo/parity)
//
// Seal is repo/crypto's nonce(24) ‖ ciphertext ‖ tag(16) under the master
// key, with the quoted type as additional data. Every <id> is the lowercase
// hex SHA-256 of the file's stored bytes, except that a parity file takes
// the name of the file it protects; so any file's integrity is checkable
// without the key, and it is checked whenever a whole file is read (a
// pack's blobs are read by range and checked against their blob IDs).
//
// All files but the config are written once under a new name and never
// changed: a refreshed lock, a rewritten snapshot or a rewritten index is
// a new file, and the old one is removed. Only the config is replaced in
// the normal course (atomically, Backend.Replace); besides it, repair
// replaces a damaged file with the bytes its parity file rebuilds, only
// when they match its name, and `parity update` (unless --no-verify)
// replaces a damaged parity file with a recomputed one. Index, snapshot
// and pack files get a parity file when the config enables parity; the
// config, key and lock files never do. Readers take at most MaxConfigSize
// (1 MiB) of the config, crypto.MaxKeyFileSize (64 KiB) of a key file,
// MaxLockSize (64 KiB) of a lock, MaxIndexFileSize (1 GiB) of an index
// file and MaxSnapshotFileSize (256 MiB) of a snapshot file.
//
// # Config file
//
// The config is encoding/json's form of Config, sealed under "config" and
// not compressed, for example
//
//	{"version":1,"id":"<64 hex>","chunker_polynomial":"3da3358b4dc173",
//	 "min_chunk_size":524288,"max_chunk_size":8388608,"pack_size":16777216,
//	 "compression":"auto","parity":{"data":10,"parity":2},
//	 "mirrors":[{"location":"sftp:host:/srv/mirror"}]}
//
// (written without spaces or line breaks):
//
//	version             the repository format: 1 from init, raised to
//	                    SplitTreeFormat (2) when the first split tree is
//	                    written; readers refuse anything outside 1 to
//	                    FormatVersion (2)
//	id                  32 random bytes in lowercase hex; names the local
//	                    cache directory, so readers accept exactly 64
//	                    lowercase hex characters, and it must not change
//	chunker_polynomial  the content-defined chunker's irreducible
//	                    polynomial, a hex string without prefix (random per
//	                    repository, or copied with init --copy-chunker-params)
//	min_chunk_size,     chunk size bounds in bytes (defaults 512 KiB and
//	max_chunk_size      8 MiB); 0 < min ≤ max ≤ pack.MaxBlobSize
//	pack_size           target pack size in bytes (default 16 MiB; init
//	                    takes 1 MiB to 512 MiB, readers at least 1 MiB)
//	compression         default blob compression: "auto" (zstd's
//	                    fastest level, measured best for backups),
//	                    "off", "fastest", "better" or "max"
//	parity?             Reed-Solomon shard counts {"data":K,"parity":M};
//	                    omitted when both are 0; parity is on when both
//	                    are positive, and then K+M ≤ 256
//	mirrors?            repositories `copy --mirrors` keeps up to date:
//	                    [{"location":…}]; the password_file and
//	                    password_command members older versions wrote are
//	                    read but never used
//
// Init writes the key file first and the config after it, so a repository
// whose config exists can always be opened. UpdateConfig and RequireFormat
// read the config as it is on the storage, change it and replace it whole.
//
// # Key files
//
// keys/<id> holds the key file JSON that crypto.NewKeyFile makes (its
// fields, the Argon2id parameters and how the master key is wrapped are
// documented in repo/crypto), encoded by json.MarshalIndent with a
// two-space indent and no final newline; <id> is the SHA-256 of exactly
// those bytes. Any number of key files may unlock a repository (`key add`,
// `key remove`, `key passwd`, which writes the new key file before it
// removes the old one). Open tries the key file that opened the repository
// last time first (Options.KeyHint), then the others in listing order, at
// most MaxKeyFilesTried (20); a key file whose content does not match its
// name is not used.
//
// # Lock files
//
// A lock is locks/<id>, Seal(lock JSON, "lock"), not compressed, without
// parity. The JSON is encoding/json's form of LockInfo:
//
//	{"time":"2026-01-02T03:04:05.123456789+01:00","exclusive":true,
//	 "hostname":"h","username":"u","pid":4242,"command":"prune"}
//
// time is when the lock was written or last refreshed, by the writer's
// clock (RFC 3339 with nanoseconds); exclusive says exclusive (true) or
// shared (false); hostname, username and pid name the holder; command
// (omitted when empty) names the command, for whoever finds the lock.
//
// A lock is stale when the reader's clock is more than LockStaleAfter (30
// minutes) past its time, or at once when it is readable, was taken on the
// reader's host (same hostname) and no process with its pid exists
// (kill(pid, 0) fails other than with EPERM; a pid ≤ 0 counts as gone).
// Stale locks are ignored. Taking a lock lists locks/, fails if a
// non-stale lock conflicts (an exclusive lock conflicts with every lock, a
// shared one with exclusive locks), writes its own file, then lists again
// and, on a conflict, removes its file and backs off; with a retry time
// (--retry-lock) it tries again every PollInterval (5 seconds by default)
// until then. On the way it
// removes stale locks of its own host whose process is gone; other stale
// locks stay until `cairn unlock` (every stale lock) or `unlock
// --remove-all` (every lock).
//
// A file in locks/ that is not a lock this repository's key wrote (a name
// that is not an ID, more than MaxLockSize bytes, a wrong hash, failed
// authentication, not lock JSON) is listed as unreadable: it counts as a
// shared lock until its storage modification time is more than
// LockStaleAfter past (at once when the backend reports none), so it
// blocks exclusive locks but is never taken for damage.
//
// A held lock is refreshed every LockRefreshInterval (5 minutes) by writing
// a new lock file with the current time (a new name, since the bytes
// differ) and then removing the old one; a refresh that fails is tried
// again after 30 seconds. The lock is lost, and the session's context is
// cancelled (ErrLockLost) so nothing more is written, when its file was
// removed by someone else, or when a refresh comes LockStaleAfter less
// LockRefreshInterval (25 minutes) or more after the last good one (the
// machine slept, the storage was unreachable). Locker.Check, called right
// before a snapshot is written, refreshes when a refresh is due and
// otherwise checks that the file is still there.
package repo
