// Package watcher turns the kernel's file events into recursive change
// events for one source tree: it watches the root and every folder below it
// that is not excluded, watches each folder that is created or moved in (and
// everything below it) before it reports that folder with one [DirAdded]
// event, and never reports copyd's own temp files or excluded paths. Events
// are not coalesced; they carry slash-separated paths relative to the root.
// When events may have been lost it brings its watches up to date and asks
// for a rescan ([Rescan]), and when the kernel refuses a watch it logs how
// to raise the limit, reports [Degraded] and keeps the watches it has.
// [New] starts one goroutine that reads the events and calls
// [Options.Notify] for each; the [Watcher] owns it, and [Watcher.Close] (or
// cancelling the context given to New) stops it.
//
// # Backends
//
// On Linux the watcher reads inotify itself, through golang.org/x/sys/unix;
// elsewhere it uses fsnotify. The Linux backend exists because copyd's
// promises need three things fsnotify v1.10 does not give:
//
//   - Watches that follow the folders, not their paths. fsnotify files its
//     watches by path, so a folder renamed over an existing one (mv -T), two
//     folders exchanged (renameat2 RENAME_EXCHANGE, what atomic deploys do)
//     or a folder exchanged with a file left watches filed under the wrong
//     path, and changes in those folders never arrived. Here each watched
//     folder is a node known by its watch descriptor, with a parent and a
//     name. After a folder's rename, the watcher asks the kernel which watch
//     is at the path now (inotify_add_watch returns the existing descriptor
//     of an inode already watched) and moves the nodes to match; the halves
//     of a rename are never paired by name, which an exchange makes
//     ambiguous. A folder that left its place and is not found elsewhere
//     stays watched for a moment (orphanGrace, once nothing is left to
//     read: the halves of one rename are queued back to back), then is
//     unwatched: it left the tree. Folders whose news could not be
//     placed (a folder above them was renamed meanwhile) are listed again
//     at the end of the read, and what they hold is reported.
//   - IN_CLOSE_WRITE, reported as [Closed]: the daemon holds a file that a
//     writer still has open until the writer closes it (see
//     copysync's settle queue), and writes through a shared mapping (LMDB,
//     SQLite's -shm), which make no IN_MODIFY, arrive with the close.
//     fsnotify keeps it unexported.
//   - Folders watched and listed through one descriptor opened without
//     following symlinks (internal/nofollow; the watch is placed through
//     /proc/self/fd): a folder swapped for a symlink is never watched or
//     listed through the link.
//
// Mounts make no inotify event: a disk mounted on a watched folder hides
// the folder the watch is on. The Linux backend polls /proc/self/mountinfo
// (POLLPRI on a change of the mount table; one goroutine for the process)
// and lists again the parent of each mount point below the root that came
// or went, which watches what the path shows now and reports it with
// [DirAdded] (mounts_linux.go).
//
// fanotify (FAN_RENAME, Linux 5.17) would report renames with both names,
// but needs CAP_SYS_ADMIN for the filesystem marks that make it recursive,
// and copyd also runs as a user. A lease probe (F_SETLEASE) tells whether a
// file is open for writing, but only to its owner (or root) and only when
// asked: the daemon uses it besides the close events, for names that
// appear without a write (renamed or linked in) and for files a scan meets,
// not instead of them. BENCHMARKS.md has the measurements against the
// fsnotify watcher (time to watch, memory, events per second).
//
// # Back-pressure
//
// The goroutine never waits for the consumer: Notify must return at once.
// It does wait for its own work: walking a folder tree that was created or
// moved in (to watch it before reporting it) and, after a loss, the whole
// tree. Meanwhile the events are not read and the kernel queues them
// (fs.inotify.max_queued_events, 16384 by default). If that queue
// overflows, the kernel drops events and says so, and the watcher reports
// [Rescan]: a big tree moved in can cost a full rescan, but no change is
// missed.
//
// # Test hook
//
// If the environment variable COPYD_TEST_OVERFLOW holds a file name when New
// is called, creating a file of that name anywhere in the tree plays a full
// kernel queue: that event and every event after it are dropped until the
// same file is removed, and then the watcher logs and reports [Rescan]
// exactly as for a kernel queue overflow. End-to-end tests use it
// because shrinking the kernel's queue would affect every other process.
// Leave it unset in production.
package watcher
