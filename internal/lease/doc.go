// Package lease asks the kernel whether some process has a file open for
// writing, with a read lease (Linux's F_SETLEASE): copyd waits for such a
// writer's close instead of copying a file half-written. Elsewhere it
// answers "no" and files settle by time.
package lease
