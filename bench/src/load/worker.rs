//! One worker of the measured phase: a loop of operations until the deadline (or until
//! --autoterm stops the run), each timed into a [`Record`].
//!
//! Invariants: an operation counts bytes only when it succeeded and moved exactly what
//! it should have (a short GET is an error, never throughput); the pacer (--rps-limit)
//! waits before the operation's clock starts, so pacing never shows as latency.

use std::cell::RefCell;
use std::fmt::Write as _;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::client::payload::Bodies;
use crate::client::s3::{Client, Outcome};
use crate::load::args::Mode;
use crate::load::operation::{Done, expect_bytes, finish};
use crate::load::pacing::Pacer;
use crate::load::shared::{KeyPool, Object, ShardContext, Shared, object_size};
use crate::load::sizes::random_range;
use crate::report::record::{OpKind, Record};

/// One worker of the measured phase.
pub(crate) struct Worker {
    shared: Arc<Shared>,
    shard: usize,
    index: usize,
    client: Rc<Client>,
    bodies: Rc<Bodies>,
    pool: Rc<KeyPool>,
    records: Rc<RefCell<Vec<Record>>>,
    rng: SmallRng,
    pacer: Option<Pacer>,
    sequence: u64,
    /// This worker's prefix, and the buffer its PUT keys are written in.
    prefix: String,
    key: String,
    /// multipart: the object whose parts are read.
    multipart_key: String,
    /// --list.pages: where this worker's walk of the whole listing is, and the keys it
    /// has seen in it so far.
    list_token: Option<String>,
    list_seen: usize,
}

impl Worker {
    pub fn new(
        context: &ShardContext,
        index: usize,
        pool: Rc<KeyPool>,
        records: Rc<RefCell<Vec<Record>>>,
    ) -> Worker {
        let shared = &context.shared;
        Worker {
            shared: Arc::clone(shared),
            shard: context.shard,
            index,
            client: Rc::clone(&context.client),
            bodies: Rc::clone(&context.bodies),
            pool,
            records,
            rng: SmallRng::seed_from_u64(index as u64),
            pacer: Pacer::new(
                shared.args.rps_limit,
                shared.args.concurrent,
                index,
                Instant::now(),
            ),
            sequence: 0,
            prefix: shared.worker_prefix(index),
            key: String::new(),
            multipart_key: shared.multipart_key(),
            list_token: None,
            list_seen: 0,
        }
    }

    pub async fn run(mut self, deadline: Instant) {
        while Instant::now() < deadline && !self.shared.stop.load(Ordering::Relaxed) {
            if let Some(pacer) = &mut self.pacer {
                let delay = pacer.delay(Instant::now());
                if Instant::now() + delay >= deadline {
                    return;
                }
                if !delay.is_zero() {
                    monoio::time::sleep(delay).await;
                }
            }
            let start = Instant::now();
            let Some(done) = self.one_operation().await else {
                return; // nothing left to do (delete ran out of objects)
            };
            let record = finish(&self.shared, self.index, start, done);
            self.shared.live[self.shard].add(&record);
            self.records.borrow_mut().push(record);
        }
    }

    async fn one_operation(&mut self) -> Option<Done> {
        match self.shared.mode {
            Mode::Put => Some(self.put().await),
            Mode::Get => {
                let object = self.pool.pick(&mut self.rng)?;
                Some(self.get(&object).await)
            }
            Mode::Stat => {
                let object = self.pool.pick(&mut self.rng)?;
                Some(self.stat(&object).await)
            }
            Mode::Delete => self.delete_batch().await,
            Mode::List if self.shared.args.list_pages => Some(self.list_page().await),
            Mode::List => Some(self.list().await),
            Mode::Anonymous => Some(self.anonymous().await),
            Mode::Mixed => Some(self.mixed().await),
            Mode::Multipart => Some(self.get_part().await),
        }
    }

    async fn put(&mut self) -> Done {
        // The key is written into a buffer the worker keeps; copied only when kept.
        self.sequence += 1;
        let mut key = std::mem::take(&mut self.key);
        key.clear();
        write!(key, "{}p{}.rnd", self.prefix, self.sequence).expect("writing to a String");
        let size = object_size(&self.shared.args, &mut self.rng);
        let body = self.bodies.for_object(&key, size);
        let result = self.client.put_object(&key, &body.payload(size)).await;
        if result.is_ok() && self.shared.mode == Mode::Mixed {
            self.pool.put_back(Object {
                key: key.clone(),
                size,
            });
        }
        self.key = key;
        Done {
            kind: OpKind::Put,
            result,
            bytes: size as u64,
            objects: 1,
        }
    }

    /// The whole object, or with --range a random range of it.
    async fn get(&mut self, object: &Object) -> Done {
        let (result, expected) = if self.shared.args.range && object.size > 0 {
            let (first, last) = random_range(&mut self.rng, object.size);
            let result = self.client.get_object_range(&object.key, first, last).await;
            (result, (last - first + 1) as u64)
        } else {
            (
                self.client.get_object(&object.key).await,
                object.size as u64,
            )
        };
        let result = expect_bytes(|| format!("GET {}", object.key), result, expected);
        // The bytes actually received (a short body is also an error above).
        let bytes = result.as_ref().map_or(0, |outcome| outcome.body_bytes);
        Done {
            kind: OpKind::Get,
            result,
            bytes,
            objects: 1,
        }
    }

    /// multipart: a random part of the uploaded object (`?partNumber=`).
    async fn get_part(&mut self) -> Done {
        let part_number = self.rng.gen_range(1..=self.shared.args.parts) as u32;
        let result = self
            .client
            .get_object_part(&self.multipart_key, part_number)
            .await;
        let expected = self.shared.args.part_size as u64;
        let what = || format!("GET {} part {part_number}", self.multipart_key);
        let result = expect_bytes(what, result, expected);
        let bytes = result.as_ref().map_or(0, |outcome| outcome.body_bytes);
        Done {
            kind: OpKind::Get,
            result,
            bytes,
            objects: 1,
        }
    }

    async fn stat(&mut self, object: &Object) -> Done {
        let result = self.client.head_object(&object.key).await;
        Done {
            kind: OpKind::Stat,
            result,
            bytes: 0,
            objects: 1,
        }
    }

    async fn delete_batch(&mut self) -> Option<Done> {
        let keys: Vec<String> = (0..self.shared.args.batch)
            .map_while(|_| self.pool.take(&mut self.rng))
            .map(|object| object.key)
            .collect();
        if keys.is_empty() {
            return None;
        }
        let result = self.client.delete_objects(&keys).await;
        Some(Done {
            kind: OpKind::Delete,
            result,
            bytes: 0,
            objects: keys.len() as u32,
        })
    }

    /// Lists the worker's own prefix to its end; an error if the count is not what
    /// prepare uploaded.
    async fn list(&mut self) -> Done {
        let prefix = &self.prefix;
        let objects = self.shared.args.objects(Mode::List);
        let expected = (self.index..objects)
            .step_by(self.shared.args.concurrent)
            .count();
        let mut token: Option<String> = None;
        let mut seen = 0usize;
        let mut first = None;
        let result = loop {
            match self
                .client
                .list_objects_v2(prefix, self.shared.args.max_keys, token.as_deref())
                .await
            {
                Ok((outcome, page)) => {
                    seen += page.keys.len();
                    let first_byte = *first.get_or_insert(outcome.first_byte);
                    match page.next_continuation_token {
                        Some(next) => token = Some(next),
                        None if seen == expected => {
                            break Ok(Outcome {
                                first_byte,
                                body_bytes: 0,
                                body: Vec::new(),
                                etag: None,
                            });
                        }
                        None => {
                            break Err(format!("LIST {prefix}: {seen} keys, expected {expected}"));
                        }
                    }
                }
                Err(error) => break Err(error),
            }
        };
        Done {
            kind: OpKind::List,
            result,
            bytes: 0,
            objects: seen as u32,
        }
    }

    /// --list.pages: the next page of this worker's walk over all the run's objects (the
    /// whole bucket with --list.existing); the walk's last page is an error unless the walk saw every object prepare uploaded.
    async fn list_page(&mut self) -> Done {
        let prefix = if self.shared.args.list_existing {
            String::new()
        } else {
            format!("{}/", self.shared.run_prefix)
        };
        let expected = self.shared.args.objects(Mode::List);
        let result = self
            .client
            .list_objects_v2(
                &prefix,
                self.shared.args.max_keys,
                self.list_token.as_deref(),
            )
            .await;
        let (result, keys) = match result {
            Ok((outcome, page)) => {
                self.list_seen += page.keys.len();
                let keys = page.keys.len();
                self.list_token = page.next_continuation_token;
                let seen = std::mem::replace(&mut self.list_seen, 0);
                match &self.list_token {
                    Some(_) => self.list_seen = seen,
                    None if seen != expected => {
                        let error = format!("LIST {prefix}: {seen} keys, expected {expected}");
                        return failed(OpKind::List, error);
                    }
                    None => {}
                }
                (Ok(outcome), keys)
            }
            Err(error) => {
                // Start the walk over: the token may be what failed.
                (self.list_token, self.list_seen) = (None, 0);
                (Err(error), 0)
            }
        };
        Done {
            kind: OpKind::List,
            result,
            bytes: 0,
            objects: keys as u32,
        }
    }

    /// An unsigned HEAD of a key of the worker's prefix, which must be refused (403).
    async fn anonymous(&mut self) -> Done {
        self.key.clear();
        write!(self.key, "{}anonymous.rnd", self.prefix).expect("writing to a String");
        let result = self.client.head_object_anonymous(&self.key).await;
        Done {
            kind: OpKind::Anonymous,
            result,
            bytes: 0,
            objects: 1,
        }
    }

    /// One operation drawn from the distribution. GET/STAT borrow their object from the
    /// pool while in flight, so a concurrent DELETE never removes an object being read.
    async fn mixed(&mut self) -> Done {
        let args = &self.shared.args;
        let weights = [
            args.get_distrib,
            args.stat_distrib,
            args.put_distrib,
            args.delete_distrib,
        ];
        let mut draw = self.rng.gen_range(0..weights.iter().sum::<u32>());
        let choice = weights.iter().position(|&w| {
            let hit = draw < w;
            draw = draw.saturating_sub(w);
            hit
        });
        let Some(object) = (choice != Some(2))
            .then(|| self.pool.take(&mut self.rng))
            .flatten()
        else {
            return self.put().await; // a PUT, or the pool ran dry
        };
        match choice {
            Some(0) => {
                let done = self.get(&object).await;
                self.pool.put_back(object);
                done
            }
            Some(1) => {
                let done = self.stat(&object).await;
                self.pool.put_back(object);
                done
            }
            _ => {
                let result = self.client.delete_object(&object.key).await;
                Done {
                    kind: OpKind::Delete,
                    result,
                    bytes: 0,
                    objects: 1,
                }
            }
        }
    }
}

/// An operation that failed after its request: an error, no bytes, no objects.
fn failed(kind: OpKind, error: String) -> Done {
    Done {
        kind,
        result: Err(error),
        bytes: 0,
        objects: 0,
    }
}
