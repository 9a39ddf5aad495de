"""Timelines on disk: `store.format` (one versioned, checksummed, memory-mapped file per
timeline, with per-block checksums checked as frames are read) and `store.cache` (the
build cache: open or build, delete and rebuild what is damaged, bounded by a budget)."""
