//! The request log the simulators keep: one entry per request answered (or abandoned by the
//! client), numbered in the order requests finished, bounded in size. Each simulator has its own
//! entry type ([`roblox::LogEntry`](crate::roblox::LogEntry),
//! [`discord::LogEntry`](crate::discord::LogEntry)).

use std::collections::VecDeque;

/// Entries kept before the oldest are dropped, so a long benchmark cannot grow the log without bound.
pub(crate) const LOG_CAPACITY: usize = 100_000;

/// An entry the log numbers as it is appended.
pub(crate) trait Sequenced: Clone {
    /// The entry's sequence number.
    fn seq(&self) -> u64;
    /// Sets the entry's sequence number.
    fn set_seq(&mut self, seq: u64);
}

pub(crate) struct RequestLog<E> {
    next_seq: u64,
    entries: VecDeque<E>,
}

impl<E> Default for RequestLog<E> {
    fn default() -> Self {
        Self {
            next_seq: 0,
            entries: VecDeque::new(),
        }
    }
}

impl<E: Sequenced> RequestLog<E> {
    /// Appends an entry, giving it the next sequence number.
    pub(crate) fn push(&mut self, mut entry: E) {
        self.next_seq += 1;
        entry.set_seq(self.next_seq);
        if self.entries.len() == LOG_CAPACITY {
            self.entries.pop_front();
        }
        self.entries.push_back(entry);
    }

    pub(crate) fn since(&self, seq: u64) -> Vec<E> {
        let start = self.entries.partition_point(|entry| entry.seq() <= seq);
        self.entries.range(start..).cloned().collect()
    }

    /// Forgets every entry; sequence numbers keep increasing.
    pub(crate) fn clear(&mut self) {
        self.entries.clear();
    }
}
