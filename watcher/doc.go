// Package watcher turns fsnotify into recursive change events for one source
// tree: it watches the root and every folder below it that is not excluded,
// watches each folder that is created or moved in (and everything below it)
// before it reports that folder with one [DirAdded] event, and never reports
// copyd's own temp files or excluded paths. Events are not coalesced; they
// carry slash-separated paths relative to the root. When events may have
// been lost it brings its watches up to date and asks for a rescan
// ([Rescan]), and when the kernel refuses a watch it logs how to raise the
// limit, reports [Degraded] and keeps the watches it has. [New] starts one
// goroutine that reads fsnotify (its Events and Errors) and calls
// [Options.Notify] for each event; the [Watcher] owns it, and
// [Watcher.Close] (or cancelling the context given to New) stops it.
//
// # Back-pressure
//
// The goroutine never waits for the consumer: Notify must return at once.
// It does wait for its own work: walking a folder tree that was created or
// moved in (to watch it before reporting it) and, after a loss, the whole
// tree. Meanwhile fsnotify is not read and the kernel queues the events
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
// exactly as for [fsnotify.ErrEventOverflow]. End-to-end tests use it
// because shrinking the kernel's queue would affect every other process.
// Leave it unset in production.
package watcher
