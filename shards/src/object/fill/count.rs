//! What a fill has left: the set's keys from the record's place on, and their object
//! bytes, counted before the fill starts so its progress has a true total.
//!
//! Cheap: the same walk the fill makes (`scan::walk_set`), and for each key of the
//! set one metadata record read from one member (the other members first; a read
//! that fails moves to the next member), decoded and checked for its key and place
//! (`quorum::judge_copy`) — no chunk is read. A batch's records are read together
//! (at most the walk's batch, 100). A tombstone counts as a key of 0 bytes (the fill
//! takes it through healing too). Paced like the fill itself between batches (waits
//! while the shard is busy, stops when it stops).

use std::rc::Rc;

use futures_util::future::join_all;
use shoal_io::{Clock, Drive, Env};

use crate::member::Verb;
use crate::member::verbs::meta::MetaVerbs;
use crate::object::bucket::BucketInfo;
use crate::object::fill::{FillState, Filler, RETRY_PAUSE};
use crate::object::quorum::{CopyPlace, MetaCopy, judge_copy};
use crate::object::scan::ScanHooks;
use crate::object::scan::pace::sleep_unless_stopping;
use crate::object::scan::walk_set;
use crate::set::quorum::{self, Answer, Strategy};

impl<D: Drive, C: Clock, E: Env> Filler<'_, D, C, E> {
    /// Keys and object bytes of the set from the record's place on (the record's
    /// bucket after its key, then the buckets after it). `None` when stopping.
    pub(super) async fn count_left(
        &mut self,
        buckets: &[BucketInfo],
        hooks: &ScanHooks<'_>,
    ) -> Option<(u64, u64)> {
        let store = self.store;
        let env = &store.env;
        let (mut objects, mut bytes) = (0u64, 0u64);
        let from = self.record.bucket.clone();
        for bucket in buckets.iter().filter(|b| b.name >= from) {
            let name: Rc<str> = bucket.name.as_str().into();
            let mut after = if bucket.name == self.record.bucket {
                self.record.after_key.clone()
            } else {
                String::new()
            };
            loop {
                if !self.before_object(hooks).await {
                    return None;
                }
                let walked = walk_set(store, self.set_index, &name, &after, self.walk_quorum());
                let Some((keys, more)) = walked.await else {
                    self.publish(FillState::Waiting);
                    if !sleep_unless_stopping(env, RETRY_PAUSE, hooks).await {
                        return None;
                    }
                    continue;
                };
                if let Some(last) = keys.last() {
                    after.clone_from(last);
                }
                let ours = keys
                    .iter()
                    .filter(|k| self.store.placement(&name, k).set_index == self.set_index);
                let sizes = join_all(ours.map(|k| self.object_size(&name, k, false))).await;
                objects += sizes.len() as u64;
                bytes += sizes.iter().sum::<u64>();
                self.progress.objects_total = self.record.objects_done + objects;
                self.progress.bytes_total = self.record.bytes_done + bytes;
                self.publish(FillState::Counting);
                if !more {
                    break;
                }
            }
        }
        Some((objects, bytes))
    }

    /// The object bytes of `bucket/key`'s version as one member's record says (0 for a
    /// tombstone, or when no member gave a valid record): the filled drive asked first
    /// when `filled_first` (after its heal, a local read), else last.
    pub(super) async fn object_size(&self, bucket: &str, key: &str, filled_first: bool) -> u64 {
        let store = self.store;
        let placement = store.placement(bucket, key);
        let members = store.set_members(placement.set_index);
        let set_size = members.len();
        let me = self.position % set_size;
        let others = (0..set_size).filter(|&i| i != me);
        let prefer: Vec<usize> = if filled_first {
            std::iter::once(me).chain(others).collect()
        } else {
            others.chain(std::iter::once(me)).collect()
        };
        let strategy = Strategy::read(Verb::ReadMeta, 1, store.config.member_deadline);
        let (b, k): (Rc<str>, Rc<str>) = (bucket.into(), key.into());
        let answers = quorum::call_preferring(&store.env, members, &prefer, strategy, |_, m| {
            let (b, k) = (Rc::clone(&b), Rc::clone(&k));
            async move { m.read_meta(&b, &k).await }
        })
        .await;
        for (drive_index, answer) in answers.iter().enumerate() {
            let Answer::Ok(bytes) = answer else {
                continue;
            };
            let place = CopyPlace {
                deployment_id: &store.deployment_id,
                set_size,
                placement,
                drive_index,
            };
            if let MetaCopy::Valid(meta) = judge_copy(bytes, bucket, key, &place) {
                return if meta.info.tombstone {
                    0
                } else {
                    meta.info.size_bytes
                };
            }
        }
        0
    }
}
