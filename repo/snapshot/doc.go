// Package snapshot owns what a backup records and how it is encoded: the
// Snapshot, Tree and Node types, the snapshot file format, the canonical
// tree blob encoding and split trees; loading and finding snapshots
// (latest, ID prefixes, host/tag/path filters), grouping them, the
// retention policy behind forget, walking and diffing trees, repository
// statistics, and the exclude pattern Matcher. It does not read the source
// file system (repo/archiver does), write restored files (repo/restorer),
// or seal, compress, pack and name bytes (repo): it hands JSON to
// Repository.SaveUnpacked and tree blobs to a TreeSaver.
//
// # Snapshot files
//
// A snapshot is stored as snapshots/<id>, where <id> is the lowercase hex
// SHA-256 of the stored bytes, which are
//
//	Seal(snapshot JSON, "snapshot")  =  nonce(24) ‖ ciphertext ‖ tag(16)
//
// (repo/crypto). The JSON is not compressed (only index files are). With
// parity on, the file gets a parity file before Save returns; readers take
// at most repo.MaxSnapshotFileSize (256 MiB) of it. A snapshot file is
// never changed: a rewrite (`tag`, `repair snapshots`) stores a new file
// and removes the old one.
//
// The JSON is encoding/json's form of Snapshot, fields in this order
// ("?" marks fields omitted when empty or zero):
//
//	time                     the snapshot time (the backup's start, or the run's), RFC 3339
//	tree                     ID of the root tree blob, 64 hex characters
//	paths                    the backed-up paths, absolute and cleaned, as given
//	hostname                 the host the backup was made on (or --host)
//	username?                the user who ran the backup
//	uid?, gid?               that user's numeric IDs
//	tags?                    list of strings
//	excludes?                list of strings (no current writer sets it)
//	kind                     "full", "differential" or "incremental"
//	parent?                  ID of the snapshot used for change detection
//	generation               generation ID, 32 hex characters (all zeros: generation 0)
//	summary?                 what the backup did, see below
//	program_version?         the cairn version that wrote it
//	original?                ID of the snapshot this one was made from by a rewrite or a copy
//	generation_full_time?    time of the full backup that started the generation
//	last_differential_time?  time of the newest differential backup this one builds on
//
// summary holds files_new, files_changed, files_unmodified, dirs_new,
// dirs_changed, dirs_unmodified, bytes_read, bytes_added (plaintext bytes
// added), bytes_added_stored (the same after compression and sealing),
// blobs_added, total_files, total_bytes, errors (all integers, always
// present), duration_ns (integer nanoseconds) and, after `repair
// snapshots`, repaired: the paths cut out. DecodeSnapshot ignores unknown
// fields and refuses a kind other than the three above or a missing tree.
//
// The root tree mirrors the absolute paths: it is a directory whose nodes
// lead, through one directory node per path component (with that
// directory's own metadata), to the backed-up files and directories. A
// backup of standard input records paths ["/NAME"] and a root tree holding
// the one file NAME.
//
// # Kind, parent and generation
//
// Every snapshot has a complete tree; kind, parent and generation say what
// it was compared with and which packs it may share (DESIGN.md section 1;
// repo/archiver.PlanKind decides, over the snapshots of the same host and
// the same set of paths):
//
//   - full: no parent; a new random generation, so every blob is stored
//     again in packs of that generation.
//   - differential: parent is the full snapshot of the newest generation
//     (the one whose full backup is newest, by generation_full_time when
//     the full snapshot itself was forgotten; then the parent is that
//     generation's oldest snapshot left); the parent's generation. When
//     no snapshot knows the time of its full backup (there was none yet),
//     the backup is made as a full one.
//   - incremental: parent is the newest snapshot of any kind, or the one
//     --parent names; the parent's generation, or generation 0 when there
//     is no parent.
//
// generation_full_time is copied from the parent (a full parent gives its
// own time) into differential and incremental snapshots, and
// last_differential_time from the parent into incremental ones, so a
// schedule still knows them after retention removed those snapshots. A
// copy to another repository keeps the generation, records the source's
// original ID (its own ID if it has none) in original, and names as parent
// the destination snapshot whose original is the source's parent, or none.
//
// # Tree blobs
//
// A directory is a tree blob (pack.TreeBlob, sealed under "tree", ID the
// keyed HMAC of this plaintext). Its canonical encoding, as Encode writes
// it, is
//
//	{"nodes":[node₀,node₁,…,nodeₙ₋₁]}\n
//
// with no spaces and a final newline; an empty directory is
// {"nodes":[]} and a newline. Nodes are sorted by name bytes
// (strings.Compare), and names are unique, not empty, not "." or "..",
// and hold no "/" or NUL; DecodeTree refuses a tree that breaks any of
// this, a node of unknown type, a null node, or a directory node without
// a subtree. An unchanged directory therefore gets the same ID in every
// snapshot.
//
// Each node is encoding/json's compact form of Node (so "<", ">" and "&"
// in strings are written as \u003c, \u003e and \u0026), fields in this
// order ("?": omitted when zero or empty):
//
//	name              the name; each run of invalid UTF-8 as U+FFFD, see name_raw
//	type              "file", "dir", "symlink", "dev", "chardev", "fifo" or "socket"
//	mode              Go's io/fs.FileMode as a decimal uint32: the permission
//	                  bits plus Go's type and setuid/setgid/sticky bits
//	                  (fs.ModeDir is 1<<31, so a 0755 directory is 2147484141)
//	uid, gid          numeric owner and group
//	user?, group?     their names, when known on the backing-up host
//	mtime, atime, ctime  RFC 3339 with nanoseconds (always present)
//	inode?, device_id?, links?  from lstat
//	size?             files: the content length in bytes
//	content?          files: the data blob IDs of the content, in order
//	subtree?          directories (required): ID of the directory's tree blob
//	link_target?      symlinks: the target; invalid UTF-8 as in name
//	rdev?             dev and chardev: the device number
//	xattrs?           [{"name":…,"value":base64}], sorted by name when read
//	name_raw?         base64 of the exact name bytes when they are not valid UTF-8
//	link_target_raw?  the same for link_target
//
// content lists one ID per content-defined chunk (package chunker, the
// repository's polynomial and chunk size bounds); a file smaller than the
// minimum chunk size, an empty one included, is one chunk (unless it grew
// while being read), so an empty file has the ID of the empty data blob. fifo and socket nodes carry only the
// common fields. When a node has name_raw or link_target_raw, readers take
// the raw bytes, so every name round-trips exactly.
//
// # Split trees
//
// A directory whose encoding would exceed TreeSplitSize (4 MiB) is stored
// as part blobs and a head blob, so no tree blob outgrows the limits and
// adding one entry to a huge directory rewrites one part, not all of it.
// SaveTree encodes the sorted nodes one at a time into parts, each a plain
// tree of consecutive nodes, {"nodes":[…]} and a newline, and ends a part
//
//   - before a node, when the part holds a node and adding this one (with
//     its comma and the closing "]}\n") would make it longer than
//     TreeSplitSize;
//   - after a node, when the part is at least 512 KiB and the node's name
//     has a 64-bit FNV-1a hash whose low 12 bits are zero (a
//     content-defined cut point, one node in 4096);
//   - after the last node.
//
// If the parts add up to TreeSplitSize bytes or less, the directory is
// written as one blob, byte for byte what Encode writes. Otherwise the
// repository's format version is first raised to repo.SplitTreeFormat (2)
// in the config, so a client that reads only version 1 refuses the
// repository instead of taking the directory for an empty one; then every
// part is stored as a tree blob of the same generation, and then the head
//
//	{"nodes":[],"parts":["<part ID hex>",…]}\n
//
// whose ID is the directory's subtree ID (or the snapshot's tree). The head
// must not exceed TreeSplitSize itself. A node whose own encoding is longer
// than pack.MaxBlobSize (128 MiB) less 16 bytes cannot be stored at all.
//
// LoadTree joins the parts, in order, into Tree.Nodes and keeps their IDs
// in Tree.Parts, so walkers that count which blobs are in use count the
// parts too. A head with both nodes and parts, a part with parts or
// without nodes, and a part whose first node does not sort after the
// previous part's last are refused as damage. Readers accept tree blobs up
// to pack.MaxBlobSize, whether or not a writer would split them.
package snapshot
