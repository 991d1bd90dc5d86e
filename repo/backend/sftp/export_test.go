package sftp

// TempFile is what a test's wrapper of save's temporary files sees.
type TempFile = tempFile

// WrapTempFiles makes b pass each temporary file it saves through w.
func WrapTempFiles(b *Backend, w func(TempFile) TempFile) { b.wrap = w }
