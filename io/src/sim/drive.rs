//! `SimDrive`: an in-memory drive for tests and the simulation, with a stated fault model,
//! latency and hangs in virtual time, and simulated crashes.
//!
//! Model: files are inodes (a byte vector) named by paths in two namespaces, both
//! `BTreeMap`s so every iteration is in path order and a run is deterministic given the
//! seed. `live` is what the running process sees; `durable` is what would be found on
//! the platter after a power cut. Each inode keeps its live bytes and its synced bytes.
//! The operations move state from live to durable exactly as drive.rs promises:
//! - `write_file_atomic` makes the new file and its name durable at once;
//! - `sync` makes a file's bytes durable, and its name (with the directories above it);
//! - `rename` makes the move durable;
//! - `create`, `write_at`, `set_len`, `create_dir_all` and `remove_*` change only live
//!   state, so [`SimDrive::crash`] forgets them unless a later durable step covered them.
//!
//! Fault model: what can happen to each kind of operation (fields of `SimFaults`, set
//! any time with `set_faults`; every random choice is drawn from the drive's seed).
//! "wait" passes before the operation completes, "fail" returns an error and changes
//! nothing, "silent" returns success but is wrong, "crash" is what a power cut does to
//! the operation while it is in flight (started, not completed).
//!
//! ```text
//! read_file, read_at   wait    latency, hang
//!                      fail    read_error (EIO), gone (ENODEV), offline
//!                      silent  read_bit_flip: one bit of the returned bytes (not stored)
//!                      crash   nothing to lose
//! write_at             wait    latency, hang
//!                      fail    write_error (EIO), no_space_after_bytes, gone, offline
//!                      silent  lost_write: acknowledged and read back, never made durable
//!                      crash   torn: a random prefix of whole 512-byte sectors of it,
//!                              from none to all, is durable
//! write_file_atomic    wait    latency, hang
//!                      fail    write_error (EIO), no_space_after_bytes, gone, offline
//!                      silent  lost_write: acknowledged and read back, never durable:
//!                              after a crash the old file (or none) is back
//!                      crash   all or nothing (a coin flip), never a mix
//! sync                 wait    latency, hang
//!                      fail    write_error (EIO), gone, offline
//!                      silent  blocks of lost writes stay as they were on the platter
//!                      crash   nothing more is durable
//! create, set_len,     wait    latency, hang
//! rename               fail    write_error (EIO), gone, offline
//!                      crash   did not happen
//! open, close,         wait    latency, hang
//! remove_*, list_dir,  fail    gone, offline
//! create_dir_all,      crash   did not happen
//! space
//! check_identity       wait    latency, hang
//!                      fail    gone, unmounted, another drive's record
//! stored bytes         bitrot  corrupt_file, truncate_file (durable; the test's choice),
//!                              rot_random_bit (durable; the seed's choice)
//! ```
//!
//! - Latency: `latency` plus an exponential extra of mean `latency_jitter_mean` (capped),
//!   drawn per operation; it passes in the simulation's virtual time after `with_env`.
//! - Hang: an operation the `hang` rule catches when it starts completes only after the
//!   rule is set back to `Never`; a timeout around it is the caller's only way out.
//! - Errors are decided when the operation completes (after its wait), and an error
//!   changes nothing. `no_space_after_bytes` counts bytes of `write_at` and
//!   `write_file_atomic`; `gone` is ENODEV for everything; offline is `check_identity`'s.
//! - Crash (`crash()`): writes in flight are torn as above, then all that is not durable
//!   is lost; operations the dead process still had pending fail with EIO and change
//!   nothing; open files fail with EBADF. An operation whose future is dropped before it
//!   completes has no effect at all (not even at a crash).
//!
//! Invariants: every path in either map has all its ancestors present as directories;
//! the drive root is implicit; `.shoal/` and `.shoal/tmp/` exist from the start, as on a
//! `DirDrive`. A `SimFile` belongs to one crash epoch: after `crash()` old handles fail.
//!
//! Identity: like a `DirDrive`, which holds its root directory open, a `SimDrive` keeps
//! working on its own contents after [`SimDrive::unmount`] (the drive's filesystem left
//! its path; an empty mount point is there now) until `check_identity` notices and takes
//! it offline: then every operation fails with `DriveError::Offline` and changes nothing. After
//! [`SimDrive::mount`], the next check brings it back.
//!
//! Single-threaded by design (`Rc<RefCell<..>>`): `Clone` shares the drive, so a test
//! keeps a handle to inject faults while the code under test uses another.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use super::drive_state::{
    Inode, Namespace, Node, SimState, durable_image, ensure_dirs, is_within, os_error, splice,
};
use super::env::SimEnv;
use super::faults::{FaultRule, Flight, SimFaults};
use crate::buf::{AlignedBuf, BLOCK_SIZE_BYTES};
use crate::drive::{
    DirEntry, Drive, DriveError, DriveResult, SpaceInfo, TargetFolder, assert_relative_path,
};
use crate::env::Env;

/// An in-memory drive; clones share it.
#[derive(Clone)]
pub struct SimDrive {
    name: Rc<str>,
    state: Rc<RefCell<SimState>>,
    /// The crash epoch of the process this handle belongs to (`process_handle`): after
    /// the next crash every operation through it fails, as a dead process does nothing
    /// more. `None`: the handle lives through crashes.
    process_epoch: Option<u64>,
}

/// An open file of a [`SimDrive`].
#[derive(Debug)]
pub struct SimFile {
    inode: u64,
    path: String,
    epoch: u64,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum OpClass {
    Read,
    Write,
    Meta,
}

/// Capacity reported by `space` (free space is capacity minus live file bytes).
const SIM_CAPACITY_BYTES: u64 = 1 << 40;

impl SimDrive {
    /// An empty drive named `sim:<name>` whose random faults come from `seed`.
    pub fn new(name: &str, seed: u64) -> SimDrive {
        let mut namespace = Namespace::new();
        ensure_dirs(&mut namespace, ".shoal/tmp").expect("fresh namespace");
        let state = SimState {
            live: namespace.clone(),
            durable: namespace,
            inodes: BTreeMap::new(),
            inode_next: 1,
            epoch: 0,
            faults: SimFaults::default(),
            base_latency: Duration::ZERO,
            written_bytes: 0,
            rng: SmallRng::seed_from_u64(seed),
            capacity_bytes: SIM_CAPACITY_BYTES,
            mounted: true,
            offline: None,
            env: None,
            in_flight: BTreeMap::new(),
            flight_next: 0,
            hang_waiters: Vec::new(),
            list_dir_calls: 0,
        };
        SimDrive {
            name: format!("sim:{name}").into(),
            state: Rc::new(RefCell::new(state)),
            process_epoch: None,
        }
    }

    /// A handle of the drive for one process: it works until the next `crash`, then
    /// every operation through it fails with ENODEV, so a task of the crashed process
    /// that is still scheduled cannot write to the drive a restarted process uses.
    #[must_use]
    pub fn process_handle(&self) -> SimDrive {
        SimDrive {
            name: Rc::clone(&self.name),
            state: Rc::clone(&self.state),
            process_epoch: Some(self.state.borrow().epoch),
        }
    }

    /// Whether this handle's process ended in a crash.
    fn process_dead(&self, state: &SimState) -> bool {
        self.process_epoch.is_some_and(|epoch| epoch != state.epoch)
    }

    /// Makes latency pass in `env`'s virtual time (every clone of the drive shares it).
    #[must_use]
    pub fn with_env(self, env: SimEnv) -> SimDrive {
        self.state.borrow_mut().env = Some(env);
        self
    }

    /// Every operation takes at least `latency` more (virtual time with an env), whatever
    /// the faults: operations then overlap and a crash finds writes in flight.
    pub fn set_base_latency(&self, latency: Duration) {
        self.state.borrow_mut().base_latency = latency;
    }

    /// Replaces the faults in force (and restarts the `no_space_after_bytes` count);
    /// hung operations look again and continue if no longer hung.
    pub fn set_faults(&self, faults: SimFaults) {
        let mut state = self.state.borrow_mut();
        state.faults = faults;
        state.written_bytes = 0;
        let waiters = std::mem::take(&mut state.hang_waiters);
        drop(state);
        waiters.into_iter().for_each(Waker::wake);
    }

    /// How many times `list_dir` was called on this drive (through any handle): tests
    /// of what a verb costs count the folder listings it makes.
    pub fn list_dir_calls(&self) -> u64 {
        self.state.borrow().list_dir_calls
    }

    /// Writes started and not yet completed (what a crash now would tear).
    pub fn writes_in_flight(&self) -> usize {
        self.state.borrow().in_flight.len()
    }

    pub fn faults(&self) -> SimFaults {
        self.state.borrow().faults.clone()
    }

    pub fn clear_faults(&self) {
        self.set_faults(SimFaults::default());
    }

    /// The drive's filesystem leaves its path (as `umount -l`, or its folder removed):
    /// what the path shows is an empty folder. Open handles keep working until the next
    /// `check_identity` takes the drive offline.
    pub fn unmount(&self) {
        self.state.borrow_mut().mounted = false;
    }

    /// The drive's filesystem is back at its path; the next `check_identity` brings the
    /// drive online.
    pub fn mount(&self) {
        self.state.borrow_mut().mounted = true;
    }

    /// Why the drive is offline; `None` while it is online.
    pub fn offline_reason(&self) -> Option<String> {
        self.state.borrow().offline.clone()
    }

    /// A power cut: writes in flight are torn (see the table above), everything not yet
    /// durable is lost, open files become invalid, operations still pending fail, and
    /// the drive is no longer offline (that was the state of the process that died).
    pub fn crash(&self) {
        let mut state = self.state.borrow_mut();
        let flights = std::mem::take(&mut state.in_flight);
        for flight in flights.into_values() {
            state.tear(flight);
        }
        state.live = state.durable.clone();
        for inode in state.inodes.values_mut() {
            inode.data.clone_from(&inode.synced);
            inode.lost_blocks.clear();
        }
        state.epoch += 1;
        // The process that took the drive offline is gone; the next one opens it afresh.
        state.offline = None;
        let referenced: BTreeSet<u64> = state.referenced_inodes().collect();
        state.inodes.retain(|number, _| referenced.contains(number));
        let waiters = std::mem::take(&mut state.hang_waiters);
        drop(state);
        waiters.into_iter().for_each(Waker::wake);
    }

    /// Flips the lowest bit of the byte at `offset` of a file, durably (bitrot).
    pub fn corrupt_file(&self, path: &str, offset: u64) {
        self.with_inode(path, |inode| {
            let offset = usize::try_from(offset).expect("offset fits in memory");
            assert!(offset < inode.data.len(), "corrupt past the end of {path}");
            inode.data[offset] ^= 1;
            if let Some(byte) = inode.synced.get_mut(offset) {
                *byte ^= 1;
            }
        });
    }

    /// Bitrot where the drive's seed says: flips one random bit of one random non-empty
    /// file, durably. Returns the file and the byte offset hit (`None`: no data to rot).
    pub fn rot_random_bit(&self) -> Option<(String, u64)> {
        let mut state = self.state.borrow_mut();
        let state = &mut *state;
        let files: Vec<(&String, u64)> = state
            .live
            .iter()
            .filter_map(|(path, node)| match node {
                Node::File(number) if !state.inodes[number].data.is_empty() => {
                    Some((path, *number))
                }
                _ => None,
            })
            .collect();
        if files.is_empty() {
            return None;
        }
        let (path, number) = files[state.rng.gen_range(0..files.len())];
        let path = path.clone();
        let inode = state.inodes.get_mut(&number).expect("live inode");
        let bit = state.rng.gen_range(0..inode.data.len() * 8);
        inode.data[bit / 8] ^= 1 << (bit % 8);
        if let Some(byte) = inode.synced.get_mut(bit / 8) {
            *byte ^= 1 << (bit % 8);
        }
        Some((path, (bit / 8) as u64))
    }

    /// Cuts a file to `len_bytes`, durably (a torn or truncated file).
    pub fn truncate_file(&self, path: &str, len_bytes: u64) {
        let len = usize::try_from(len_bytes).expect("length fits in memory");
        self.with_inode(path, |inode| {
            inode.data.truncate(len);
            inode.synced.truncate(len);
        });
    }

    /// Deletes a file from live and durable state (a lost file).
    pub fn delete_file(&self, path: &str) {
        let mut state = self.state.borrow_mut();
        let removed = state.live.remove(path);
        state.durable.remove(path);
        assert!(
            matches!(removed, Some(Node::File(_))),
            "no file {path} to delete"
        );
    }

    /// The live bytes of a file, if it exists.
    pub fn file_bytes(&self, path: &str) -> Option<Vec<u8>> {
        let state = self.state.borrow();
        match state.live.get(path) {
            Some(Node::File(inode)) => Some(state.inodes[inode].data.clone()),
            _ => None,
        }
    }

    /// Whether `path` is a live directory (`""`, the root, always is).
    pub fn is_dir(&self, path: &str) -> bool {
        path.is_empty() || self.state.borrow().live.get(path) == Some(&Node::Dir)
    }

    fn with_inode(&self, path: &str, change: impl FnOnce(&mut Inode)) {
        let mut state = self.state.borrow_mut();
        let Some(Node::File(number)) = state.live.get(path).copied() else {
            panic!("no file {path} on {}", self.name);
        };
        change(state.inodes.get_mut(&number).expect("live inode"));
    }

    /// What every operation does first: its latency and hang, then the drive-wide and
    /// class faults.
    async fn enter(&self, class: OpClass, path: &str) -> DriveResult<()> {
        self.enter_flying(class, path, || None).await
    }

    /// `enter` for a write: while it waits, the write `flight` makes is in flight (a
    /// crash tears it). `flight` is called only if the operation waits.
    async fn enter_flying(
        &self,
        class: OpClass,
        path: &str,
        flight: impl FnOnce() -> Option<Flight>,
    ) -> DriveResult<()> {
        assert_relative_path(path);
        self.pass_time(path, flight).await?;
        let mut state = self.state.borrow_mut();
        if state.faults.gone || self.process_dead(&state) {
            return Err(os_error(libc::ENODEV));
        }
        if let Some(why) = &state.offline {
            return Err(DriveError::Offline(why.clone()));
        }
        let rule = match class {
            OpClass::Read => state.faults.read_error.clone(),
            OpClass::Write => state.faults.write_error.clone(),
            OpClass::Meta => FaultRule::Never,
        };
        if state.fires(&rule, path) {
            return Err(os_error(libc::EIO));
        }
        Ok(())
    }

    /// The operation's latency and hang; EIO if the drive crashed meanwhile (the process
    /// that started the operation is gone).
    async fn pass_time(
        &self,
        path: &str,
        flight: impl FnOnce() -> Option<Flight>,
    ) -> DriveResult<()> {
        let pending = Pending::begin(&self.state, path, flight);
        pending.wait().await;
        let started_epoch = pending.epoch;
        drop(pending);
        if self.state.borrow().epoch != started_epoch {
            return Err(os_error(libc::EIO));
        }
        Ok(())
    }

    /// `enter` for an operation on an open file, which must be from this crash epoch.
    async fn enter_file(&self, class: OpClass, file: &SimFile) -> DriveResult<()> {
        self.enter_file_flying(class, file, || None).await
    }

    /// `enter_flying` for an operation on an open file of this crash epoch.
    async fn enter_file_flying(
        &self,
        class: OpClass,
        file: &SimFile,
        flight: impl FnOnce() -> Option<Flight>,
    ) -> DriveResult<()> {
        self.enter_flying(class, &file.path, flight).await?;
        if file.epoch != self.state.borrow().epoch {
            return Err(os_error(libc::EBADF));
        }
        Ok(())
    }
}

/// An operation between its start and its completion: its latency and hang, drawn when
/// it starts, and the write it has in flight meanwhile. Dropped when the operation
/// completes or its future is dropped: either way the write is no longer in flight.
struct Pending {
    state: Rc<RefCell<SimState>>,
    epoch: u64,
    latency: Duration,
    hung: bool,
    flight: Option<u64>,
}

impl Pending {
    fn begin(
        state: &Rc<RefCell<SimState>>,
        path: &str,
        flight: impl FnOnce() -> Option<Flight>,
    ) -> Pending {
        let mut guard = state.borrow_mut();
        let inner = &mut *guard;
        let latency = inner.base_latency + inner.faults.draw_latency(&mut inner.rng);
        let hang = inner.faults.hang.clone();
        let hung = inner.fires(&hang, path);
        let waits = hung || !latency.is_zero();
        let flight = flight().filter(|_| waits).map(|flight| {
            inner.flight_next += 1;
            inner.in_flight.insert(inner.flight_next, flight);
            inner.flight_next
        });
        Pending {
            state: Rc::clone(state),
            epoch: inner.epoch,
            latency,
            hung,
            flight,
        }
    }

    async fn wait(&self) {
        if !self.latency.is_zero() {
            let env = self.state.borrow().env.clone();
            match env {
                Some(env) => env.sleep(self.latency).await,
                None => monoio::time::sleep(self.latency).await,
            }
        }
        if self.hung {
            HangGate {
                state: &self.state,
                epoch: self.epoch,
            }
            .await;
        }
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        if let Some(id) = self.flight {
            self.state.borrow_mut().in_flight.remove(&id);
        }
    }
}

/// Waits while the drive hangs: until the hang rule is `Never` or the drive crashed.
struct HangGate<'a> {
    state: &'a RefCell<SimState>,
    epoch: u64,
}

impl Future for HangGate<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut state = self.state.borrow_mut();
        if state.epoch != self.epoch || state.faults.hang == FaultRule::Never {
            return Poll::Ready(());
        }
        // Polled again without a wake (e.g. inside a select): keep one waker per task.
        if !state.hang_waiters.iter().any(|w| w.will_wake(cx.waker())) {
            state.hang_waiters.push(cx.waker().clone());
        }
        Poll::Pending
    }
}

fn assert_aligned(offset: u64, len: usize) {
    assert!(
        offset.is_multiple_of(BLOCK_SIZE_BYTES as u64),
        "I/O offset {offset} not block aligned"
    );
    assert!(
        len.is_multiple_of(BLOCK_SIZE_BYTES),
        "I/O length {len} not block aligned"
    );
}

fn assert_entry(path: &str) {
    assert!(!path.is_empty(), "empty drive path");
}

impl Drive for SimDrive {
    type File = SimFile;

    fn name(&self) -> &str {
        &self.name
    }

    async fn read_file(&self, path: &str) -> DriveResult<Vec<u8>> {
        assert_entry(path);
        self.enter(OpClass::Read, path).await?;
        let mut state = self.state.borrow_mut();
        let inode = state.file_inode(path)?;
        let mut data = state.inodes[&inode].data.clone();
        state.maybe_flip(path, &mut data);
        Ok(data)
    }

    async fn write_file_atomic(&self, path: &str, data: &[u8]) -> DriveResult<()> {
        self.write_file_atomic_into(path, data).await.map(drop)
    }

    async fn write_file_atomic_into(&self, path: &str, data: &[u8]) -> DriveResult<TargetFolder> {
        assert_entry(path);
        let flight = || {
            Some(Flight::Atomic {
                path: path.to_owned(),
                data: data.to_vec(),
            })
        };
        self.enter_flying(OpClass::Write, path, flight).await?;
        let mut state = self.state.borrow_mut();
        state.charge_write(data.len())?;
        let lost = state.write_is_lost(path);
        let folder = state.target_folder(path);
        let inode = state.new_inode(data.to_vec(), data.to_vec());
        state.link_live(path, inode)?;
        if lost {
            // Acknowledged, seen by this process, never on the platter.
            return Ok(folder);
        }
        state.persist_name(path)?;
        Ok(folder)
    }

    async fn create(&self, path: &str, _size_hint_bytes: u64) -> DriveResult<SimFile> {
        assert_entry(path);
        self.enter(OpClass::Write, path).await?;
        let mut state = self.state.borrow_mut();
        let inode = state.new_inode(Vec::new(), Vec::new());
        state.link_live(path, inode)?;
        Ok(SimFile {
            inode,
            path: path.to_string(),
            epoch: state.epoch,
        })
    }

    async fn open(&self, path: &str) -> DriveResult<SimFile> {
        assert_entry(path);
        self.enter(OpClass::Meta, path).await?;
        let state = self.state.borrow();
        Ok(SimFile {
            inode: state.file_inode(path)?,
            path: path.to_string(),
            epoch: state.epoch,
        })
    }

    async fn write_at(
        &self,
        file: &SimFile,
        buf: AlignedBuf,
        offset: u64,
    ) -> (DriveResult<()>, AlignedBuf) {
        assert_aligned(offset, buf.len());
        let flight = || {
            Some(Flight::Write {
                inode: file.inode,
                offset,
                data: buf.as_slice().to_vec(),
            })
        };
        if let Err(e) = self.enter_file_flying(OpClass::Write, file, flight).await {
            return (Err(e), buf);
        }
        let mut state = self.state.borrow_mut();
        if let Err(e) = state.charge_write(buf.len()) {
            return (Err(e), buf);
        }
        let lost = state.write_is_lost(&file.path);
        let inode = state.inodes.get_mut(&file.inode).expect("open inode");
        let start = usize::try_from(offset).expect("offset fits in memory");
        splice(&mut inode.data, start, buf.as_slice());
        let block_size = BLOCK_SIZE_BYTES as u64;
        let blocks = offset / block_size..(offset + buf.len() as u64) / block_size;
        if lost {
            inode.lost_blocks.extend(blocks);
        } else {
            for block in blocks {
                inode.lost_blocks.remove(&block);
            }
        }
        (Ok(()), buf)
    }

    async fn read_at(
        &self,
        file: &SimFile,
        mut buf: AlignedBuf,
        offset: u64,
    ) -> (DriveResult<()>, AlignedBuf) {
        assert_aligned(offset, buf.capacity());
        if let Err(e) = self.enter_file(OpClass::Read, file).await {
            buf.set_len(0);
            return (Err(e), buf);
        }
        let mut state = self.state.borrow_mut();
        let data = &state.inodes[&file.inode].data;
        let start = usize::try_from(offset).map_or(data.len(), |start| start.min(data.len()));
        let end = (start + buf.capacity()).min(data.len());
        buf.set_len(end - start);
        buf.as_mut_slice().copy_from_slice(&data[start..end]);
        state.maybe_flip(&file.path, buf.as_mut_slice());
        (Ok(()), buf)
    }

    async fn set_len(&self, file: &SimFile, len_bytes: u64) -> DriveResult<()> {
        self.enter_file(OpClass::Write, file).await?;
        let len = usize::try_from(len_bytes).expect("length fits in memory");
        let mut state = self.state.borrow_mut();
        let inode = state.inodes.get_mut(&file.inode).expect("open inode");
        inode.data.resize(len, 0);
        inode
            .lost_blocks
            .retain(|&block| block * (BLOCK_SIZE_BYTES as u64) < len_bytes);
        Ok(())
    }

    async fn sync(&self, file: &SimFile) -> DriveResult<()> {
        self.enter_file(OpClass::Write, file).await?;
        let mut state = self.state.borrow_mut();
        let inode = state.inodes.get_mut(&file.inode).expect("open inode");
        inode.synced = durable_image(inode);
        // The name becomes durable too (DirDrive fsyncs the directories `create` changed),
        // unless the file was renamed or removed since it was opened.
        if state.live.get(&file.path) == Some(&Node::File(file.inode)) {
            state.persist_name(&file.path)?;
        }
        Ok(())
    }

    async fn close(&self, file: SimFile) -> DriveResult<()> {
        self.enter(OpClass::Meta, &file.path).await
    }

    async fn rename(&self, from: &str, to: &str) -> DriveResult<()> {
        self.rename_into(from, to).await.map(drop)
    }

    async fn rename_into(&self, from: &str, to: &str) -> DriveResult<TargetFolder> {
        assert_entry(from);
        assert_entry(to);
        assert_relative_path(to);
        self.enter(OpClass::Write, from).await?;
        let mut state = self.state.borrow_mut();
        let folder = state.target_folder(to);
        state.rename(from, to)?;
        Ok(folder)
    }

    async fn remove_file(&self, path: &str) -> DriveResult<()> {
        assert_entry(path);
        self.enter(OpClass::Meta, path).await?;
        let mut state = self.state.borrow_mut();
        state.file_inode(path)?;
        state.live.remove(path);
        // Durable when it returns, as DirDrive fsyncs the parent (drive.rs).
        state.durable.remove(path);
        Ok(())
    }

    async fn remove_dir_all(&self, path: &str) -> DriveResult<()> {
        assert_entry(path);
        self.enter(OpClass::Meta, path).await?;
        let mut state = self.state.borrow_mut();
        state.dir_exists(path)?;
        state.live.retain(|key, _| !is_within(key, path));
        Ok(())
    }

    async fn remove_dir_if_empty(&self, path: &str) -> DriveResult<bool> {
        assert_entry(path);
        self.enter(OpClass::Meta, path).await?;
        let mut state = self.state.borrow_mut();
        state.dir_exists(path)?;
        if !state.children(path).is_empty() {
            return Ok(false);
        }
        state.live.remove(path);
        Ok(true)
    }

    async fn create_dir_all(&self, path: &str) -> DriveResult<()> {
        assert_entry(path);
        self.enter(OpClass::Meta, path).await?;
        let mut state = self.state.borrow_mut();
        if matches!(state.live.get(path), Some(Node::File(_))) {
            return Err(os_error(libc::EEXIST));
        }
        ensure_dirs(&mut state.live, path)
    }

    async fn list_dir(&self, path: &str) -> DriveResult<Vec<DirEntry>> {
        self.state.borrow_mut().list_dir_calls += 1;
        self.enter(OpClass::Meta, path).await?;
        let state = self.state.borrow();
        state.dir_exists(path)?;
        Ok(state.children(path))
    }

    async fn space(&self) -> DriveResult<SpaceInfo> {
        self.enter(OpClass::Meta, "").await?;
        let state = self.state.borrow();
        let mut live_inodes: Vec<u64> = state
            .live
            .values()
            .filter_map(|node| match node {
                Node::File(number) => Some(*number),
                Node::Dir => None,
            })
            .collect();
        live_inodes.sort_unstable();
        live_inodes.dedup();
        let used_bytes: u64 = live_inodes
            .iter()
            .map(|number| state.inodes[number].data.len() as u64)
            .sum();
        Ok(SpaceInfo {
            total_bytes: state.capacity_bytes,
            free_bytes: state.capacity_bytes.saturating_sub(used_bytes),
        })
    }

    /// Unmounted: offline (the path shows an empty folder). Mounted: the record is
    /// compared without faults (but after the drive's latency and hang, as any read),
    /// and the drive is online if it matches. A `gone` drive
    /// fails the check but is not taken offline by it: the fault alone decides, so a
    /// test that clears it gets the drive back at once.
    async fn check_identity(&self, identity_path: &str, identity: &[u8]) -> Result<(), String> {
        // It reads a file: it takes the drive's time and hangs with it.
        self.pass_time(identity_path, || None)
            .await
            .map_err(|e| e.to_string())?;
        let mut state = self.state.borrow_mut();
        if state.faults.gone || self.process_dead(&state) {
            return Err("it does not answer".to_owned());
        }
        let found = if state.mounted {
            match state.file_inode(identity_path) {
                Ok(inode) if state.inodes[&inode].data == identity => Ok(()),
                Ok(_) => Err(format!("its {identity_path} belongs to another drive")),
                Err(_) => Err(format!("it has no {identity_path}")),
            }
        } else {
            Err(format!(
                "it has no {identity_path} (the drive's filesystem is not mounted there)"
            ))
        };
        state.offline = found.as_ref().err().cloned();
        found
    }
}
