// Package settle is the daemon's settle queue: per pair, the paths the
// watcher reported, held until their events settle (settle after the
// last event, max_delay after the first) or their writer closes them,
// rolled up into one folder scan when many pile up in one folder, and
// handed out as [Work] in the order they became due. Adding never blocks,
// so the watcher that feeds it never stalls; memory grows with distinct
// pending paths, not with events.
package settle
