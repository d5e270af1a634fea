//! DynamoDB requests made, by operation: tests assert them, operators read them.

use std::sync::atomic::{AtomicU64, Ordering};

use super::DynamoStore;

/// DynamoDB requests made, by operation, for the cost assertions and for operators.
#[derive(Debug, Default)]
pub(super) struct Counters {
    pub(super) get_item: AtomicU64,
    pub(super) query: AtomicU64,
    pub(super) update_item: AtomicU64,
    pub(super) transact_write: AtomicU64,
    pub(super) batch_write: AtomicU64,
    pub(super) delete_item: AtomicU64,
}

/// A snapshot of [`DynamoStore::requests`].
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RequestCounts {
    pub get_item: u64,
    pub query: u64,
    pub update_item: u64,
    pub transact_write: u64,
    pub batch_write: u64,
    pub delete_item: u64,
}

impl RequestCounts {
    pub fn since(self, before: RequestCounts) -> RequestCounts {
        RequestCounts {
            get_item: self.get_item - before.get_item,
            query: self.query - before.query,
            update_item: self.update_item - before.update_item,
            transact_write: self.transact_write - before.transact_write,
            batch_write: self.batch_write - before.batch_write,
            delete_item: self.delete_item - before.delete_item,
        }
    }
}

impl DynamoStore {
    pub fn requests(&self) -> RequestCounts {
        let c = &self.counters;
        RequestCounts {
            get_item: c.get_item.load(Ordering::Relaxed),
            query: c.query.load(Ordering::Relaxed),
            update_item: c.update_item.load(Ordering::Relaxed),
            transact_write: c.transact_write.load(Ordering::Relaxed),
            batch_write: c.batch_write.load(Ordering::Relaxed),
            delete_item: c.delete_item.load(Ordering::Relaxed),
        }
    }
}
