//! Within a process, writers to one room take turns on that room's own async lock before
//! reading it: optimistic retries among n local contenders would cost O(n²) requests, and
//! DynamoDB only has to arbitrate between processes. An entry exists per room being written
//! and goes with its last caller, so unrelated rooms never queue behind each other.

use std::collections::HashMap;
use std::sync::Arc;

use crate::model::RoomKey;

/// A room's lock, and how many callers hold or wait for it.
type Entry = (Arc<tokio::sync::Mutex<()>>, usize);

/// The locks of the rooms being written.
#[derive(Default)]
pub(super) struct RoomLocks(parking_lot::Mutex<HashMap<RoomKey, Entry>>);

/// A caller's place at a room lock, holding it or waiting; the room's entry goes with its
/// last caller.
pub(super) struct RoomLockGuard<'a> {
    locks: &'a RoomLocks,
    key: RoomKey,
    guard: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl RoomLocks {
    /// Waits for this caller's turn to write `key`. Cancel-safe: a caller whose deadline
    /// passes while waiting leaves the queue (the request deadline bounds every wait).
    pub(super) async fn lock(&self, key: &RoomKey) -> RoomLockGuard<'_> {
        let lock = {
            let mut locks = self.0.lock();
            let entry = locks.entry(key.clone()).or_default();
            entry.1 += 1;
            entry.0.clone()
        };
        let mut held = RoomLockGuard {
            locks: self,
            key: key.clone(),
            guard: None,
        };
        // Dropped while waiting, `held` still counts this caller out.
        held.guard = Some(lock.lock_owned().await);
        held
    }
}

impl Drop for RoomLockGuard<'_> {
    fn drop(&mut self) {
        drop(self.guard.take());
        let mut locks = self.locks.0.lock();
        if let Some(entry) = locks.get_mut(&self.key) {
            entry.1 -= 1;
            if entry.1 == 0 {
                locks.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::RoomType;

    #[tokio::test]
    async fn callers_of_one_room_take_turns_and_the_entry_goes_with_the_last() {
        let locks = RoomLocks::default();
        let a = RoomKey::new(RoomType::Multi, "a");
        let held = locks.lock(&a).await;
        // Another room is not held up; a second caller of `a` waits, and gives up cleanly.
        drop(locks.lock(&RoomKey::new(RoomType::Multi, "b")).await);
        let waiting =
            tokio::time::timeout(std::time::Duration::from_millis(50), locks.lock(&a)).await;
        assert!(waiting.is_err());
        assert_eq!(locks.0.lock().len(), 1);
        drop(held);
        assert!(locks.0.lock().is_empty());
        drop(locks.lock(&a).await);
        assert!(locks.0.lock().is_empty());
    }
}
