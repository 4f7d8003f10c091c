//! Named locks (`LockName`: bucket, object, upload) across the shards of one node.
//! Every name has an owner shard (`owner = hash(name) mod shards`, DESIGN.md §2); its
//! lock lives only there. A
//! writer on another shard asks the owner through the owner's bounded mailbox; the
//! owner takes its local lock on the writer's behalf and holds it until the writer's
//! guard is dropped. No lock is ever shared between cores: only messages cross.
//!
//! Invariants: a granted remote lock is released when the requester's guard is dropped
//! or the requester goes away (its release channel closes); a requester that gives up
//! before the grant arrives releases it the same way.

use futures_channel::{mpsc, oneshot};
use futures_util::{SinkExt, StreamExt};
use shoal_io::Env;

use crate::set::key_lock::{KeyGuard, KeyLocks, LockMode, LockName};

/// Mailbox depth per shard: lock requests waiting to be taken up by the owner.
pub const LOCK_MAILBOX_CAPACITY: usize = 1024;

/// A lock request sent to the owner shard.
pub struct LockRequest {
    name: LockName,
    mode: LockMode,
    granted: oneshot::Sender<()>,
    /// Completes (with `Canceled`) when the requester drops its guard.
    release: oneshot::Receiver<()>,
}

/// The lock table as one shard sees it.
#[derive(Clone)]
pub struct KeyLocker {
    local: KeyLocks,
    shard_index: usize,
    /// One sender per shard (the own entry is unused). Empty: single shard.
    mailboxes: Vec<mpsc::Sender<LockRequest>>,
}

/// Held while a key is locked, wherever the lock lives.
pub enum LockGuard {
    Local(KeyGuard),
    /// Dropping the sender tells the owner to release.
    Remote(oneshot::Sender<()>),
}

impl KeyLocker {
    /// A locker for a process with a single shard.
    pub fn single() -> Self {
        Self {
            local: KeyLocks::default(),
            shard_index: 0,
            mailboxes: Vec::new(),
        }
    }

    /// A locker for shard `shard_index`, talking to the owners through `mailboxes`.
    pub fn sharded(shard_index: usize, mailboxes: Vec<mpsc::Sender<LockRequest>>) -> Self {
        assert!(shard_index < mailboxes.len().max(1));
        Self {
            local: KeyLocks::default(),
            shard_index,
            mailboxes,
        }
    }

    /// The local table, for the owner-side service.
    pub fn local(&self) -> &KeyLocks {
        &self.local
    }

    /// Locks `name` in `mode`; `owner_hash` chooses the shard that keeps the lock.
    pub async fn lock(&self, name: &LockName, mode: LockMode, owner_hash: u64) -> LockGuard {
        let shards = self.mailboxes.len();
        let owner = if shards <= 1 {
            self.shard_index
        } else {
            (owner_hash % shards as u64) as usize
        };
        if owner == self.shard_index {
            return LockGuard::Local(self.local.lock(name, mode).await);
        }
        let (granted_tx, granted_rx) = oneshot::channel();
        let (release_tx, release_rx) = oneshot::channel();
        let request = LockRequest {
            name: name.clone(),
            mode,
            granted: granted_tx,
            release: release_rx,
        };
        let mut mailbox = self.mailboxes[owner].clone();
        // Owner shards serve locks until every shard has drained (two-phase stop,
        // server.rs), so a closed mailbox or a dropped request means the process is past
        // its drain deadline and stopping: this request waits for the end instead of
        // failing or panicking (it never got the lock, so it never commits).
        if mailbox.send(request).await.is_err() || granted_rx.await.is_err() {
            std::future::pending::<()>().await;
        }
        LockGuard::Remote(release_tx)
    }
}

/// Runs on every shard: takes the locks other shards ask for, and holds each until its
/// requester lets go.
pub async fn serve_lock_requests<E: Env>(
    env: E,
    locks: KeyLocks,
    mut mailbox: mpsc::Receiver<LockRequest>,
) {
    while let Some(request) = mailbox.next().await {
        let locks = locks.clone();
        env.spawn(async move {
            let guard = locks.lock(&request.name, request.mode).await;
            if request.granted.send(()).is_ok() {
                let _ = request.release.await; // Err(Canceled) when the guard is dropped
            }
            drop(guard);
        });
    }
}

/// Mailboxes for `shards` shards: the senders (cloned to every shard) and each shard's
/// receiver.
pub fn mailboxes(
    shards: usize,
) -> (
    Vec<mpsc::Sender<LockRequest>>,
    Vec<mpsc::Receiver<LockRequest>>,
) {
    (0..shards)
        .map(|_| mpsc::channel(LOCK_MAILBOX_CAPACITY))
        .unzip()
}
