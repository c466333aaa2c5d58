// Package workpool is the engine's bounded worker pool: a fixed number of
// workers shared by every pair, each pair submitting through its own
// bounded Queue, taken in turn so that one busy pair does not starve the
// others, and a full Queue blocking its submitter (which throttles the
// scanners that feed it).
package workpool
