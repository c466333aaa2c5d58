// Package nofollow does file system operations on absolute paths without
// following a symbolic link at any component of the path: a folder that
// was replaced by a symlink since it was listed makes the operation fail
// with ELOOP instead of reading or writing wherever the link points.
// copyd reads and writes only through it, so that whatever symlinks appear
// in a source or destination tree, nothing outside the two roots is read,
// written, chmod'ed, retimed or removed (the class of rsync's
// CVE-2024-12087/12088).
//
// The caller gives paths whose root has no symlink in it (copyd resolves a
// pair's folders when it starts): every component is then checked, the
// root's ancestors included, and a root that becomes a symlink is refused
// too. The last component is never followed either: a symlink there is
// operated on itself (lstat, readlink, unlink, lutimes) or refused (open).
//
// On Linux 5.6 and later each path is resolved by one openat2 with
// RESOLVE_NO_SYMLINKS; elsewhere, on older kernels and where a sandbox
// refuses openat2, by a walk that opens one folder at a time with
// O_NOFOLLOW|O_DIRECTORY, which gives the same guarantee with one system
// call per component. A path longer than PATH_MAX fails with ENAMETOOLONG
// unless its folder's path fits (then it is opened relative to the
// folder), as before. An operation on the last
// component (stat, mkdir, unlink, rename, chmod, ...) is the *at call
// relative to its folder opened this way. Windows is not covered (see
// docs/operations.md): there the os package is used as it is.
//
// The package starts no goroutines and keeps no state but whether openat2
// works.
package nofollow
