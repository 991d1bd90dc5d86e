package index

// SetAfterBucket makes l call fn after Finish has built each bucket, so a
// benchmark can see the memory in use at the peak of Finish.
func SetAfterBucket(l *Loader, fn func()) { l.afterBucket = fn }
