// Package watcher turns fsnotify into recursive change events for one source
// tree: it watches the root and every folder below it that is not excluded,
// watches each folder that is created or moved in (and everything below it)
// before it reports that folder with one [DirAdded] event, and never reports
// copyd's own temp files or excluded paths. Events are not coalesced; they
// carry slash-separated paths relative to the root. When events may have
// been lost it asks for a rescan ([Rescan]), and when the kernel refuses a
// watch it logs how to raise the limit, reports [Degraded] and keeps the
// watches it has. [New] starts one goroutine that reads fsnotify and sends on
// [Watcher.Events]; the [Watcher] owns it, and [Watcher.Close] (or cancelling
// the context given to New) stops it, after which Events is closed.
package watcher
