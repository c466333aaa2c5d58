package sync

// Steps whose success ends failures beyond their own (see ends). The
// others are the op names a failure is recorded under ("copy", "mkdir",
// "set folder metadata", …).
const (
	stepRead   = "read folder" // scanDir read the source folder
	stepFolder = "folder"      // a scan read a folder, made it in the destination, listed it and set its metadata
	stepDone   = "done"        // a file's copy is complete: under its name in the destination (flushed with fsync)
)

// Ops whose failure is retried by scanning the path's tree again, not by a
// path job: the folder could not be read, on either side, or made.
const (
	opReadDestFolder = "read destination folder"
	opMkdir          = "mkdir"
	opCreateDest     = "create destination"
)

// retriedAsTree reports whether a failure of op is retried with a scan of
// the path's tree (see the ops above) rather than a path job.
func retriedAsTree(op string) bool {
	switch op {
	case stepRead, opReadDestFolder, opMkdir, opCreateDest:
		return true
	}
	return false
}

// ends reports whether a success of step on a path shows that the path's
// failure of op is over. A step ends its own failures and those of the
// steps its job takes before it, never those of the steps after it: a
// folder that could be read may still fail to be made in the destination
// or to get its metadata, a copy handed to the committer may still fail
// its flush or rename. Were such a failure forgotten each time the step
// before it worked, the path would start failing anew at every attempt,
// and at every restart (whose first pass reads every folder again), with
// a new since and one attempt.
func ends(step, op string) bool {
	if step == op {
		return true
	}
	switch step {
	case stepRead:
		return op == "stat" || op == "stat destination"
	case "replace with folder":
		return op == "stat" || op == "stat destination" || op == stepRead
	case "copy":
		return op != "rename" && op != "fsync" // a copy handed to the committer is flushed and renamed after
	case "fsync folder":
		return op == "fsync"
	case stepFolder:
		return op != "fsync" // the flush after the folders' metadata
	case stepDone, "copy symlink", "delete":
		return true // in step; gone from the destination
	}
	return false
}
