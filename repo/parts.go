package repo

// The parts of a Repository that only some commands need. Each is a view
// of the same opened repository, so the session's lock, the key and the
// index are shared, and the rules of the session apply to them too.

// Parity manages the parity files of the repository: writing, reading
// files back through them, and switching parity on and off.
type Parity struct{ r *Repository }

// Parity returns the repository's parity part.
func (r *Repository) Parity() *Parity { return &Parity{r: r} }

// Keys manages the key files: the passwords that open the repository.
type Keys struct{ r *Repository }

// Keys returns the repository's key part.
func (r *Repository) Keys() *Keys { return &Keys{r: r} }

// Locks lists and removes the lock files of other processes (the
// session takes and refreshes its own).
type Locks struct{ r *Repository }

// Locks returns the repository's lock part.
func (r *Repository) Locks() *Locks { return &Locks{r: r} }

// IndexFiles persists the index: reading single index files and
// rewriting the whole index (prune and repair).
type IndexFiles struct{ r *Repository }

// IndexFiles returns the repository's index persistence part.
func (r *Repository) IndexFiles() *IndexFiles { return &IndexFiles{r: r} }
