//! Shared helpers for the store suites: building stores over simulated or real drives,
//! deterministic object bodies, and drive damage done through the `Drive` trait itself
//! so the same damage applies to both backends.
#![allow(dead_code)]

use std::future::Future;

use shoal_io::{Clock, DirDrive, Drive, Env, SimClock, SimDrive};
use shoal_shards::{PutOptions, SliceSource, Store, StoreConfig};

pub const MIB: usize = 1 << 20;

/// Runs a future on a fresh shard runtime (io_uring when available).
pub fn run<F: Future>(future: F) -> F::Output {
    let (mut runtime, _) =
        shoal_io::build_runtime(&shoal_io::RuntimeConfig::default()).expect("runtime");
    runtime.block_on(future)
}

/// Deterministic, incompressible bytes for (seed, len).
pub fn body(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

/// A backend the suite can build stores on.
pub trait Backend {
    type D: Drive;
    fn drives(&mut self, count: usize) -> Vec<Self::D>;

    /// A store over `count` fresh drives with `parity` parity chunks and bucket "bkt".
    fn store(&mut self, count: usize, parity: usize) -> impl Future<Output = TestStore<Self::D>> {
        store(self.drives(count), parity)
    }

    /// Drive `index` of `store`'s pool, wherever it is served.
    fn drive<'a>(&'a self, store: &'a TestStore<Self::D>, index: usize) -> &'a Self::D {
        store.drive(index).expect("a drive of this node")
    }

    /// Every drive of `store`'s pool, in pool order.
    fn all_drives<'a>(&'a self, store: &'a TestStore<Self::D>) -> Vec<&'a Self::D> {
        store.drives()
    }
}

/// Simulated drives, every odd one a drive of a second node reached over a simulated
/// peer link (`peer_store`): the suite over a set that spans two nodes.
pub struct Peers {
    pub made: Vec<SimDrive>,
}

impl Backend for Peers {
    type D = SimDrive;
    fn drives(&mut self, count: usize) -> Vec<SimDrive> {
        self.made = Sim { made: vec![] }.drives(count);
        self.made.clone()
    }

    fn store(&mut self, count: usize, parity: usize) -> impl Future<Output = TestStore<SimDrive>> {
        peer_store(self.drives(count), parity)
    }

    fn drive<'a>(&'a self, _: &'a TestStore<SimDrive>, index: usize) -> &'a SimDrive {
        &self.made[index]
    }

    fn all_drives<'a>(&'a self, _: &'a TestStore<SimDrive>) -> Vec<&'a SimDrive> {
        self.made.iter().collect()
    }
}

/// A store over `drives` (formatted here as one node would) whose odd positions are
/// peer members: those drives are local members of a second node, served to this one
/// over a `SimLink` on the real runtime, with bucket "bkt".
pub async fn peer_store(drives: Vec<SimDrive>, parity: usize) -> TestStore<SimDrive> {
    use shoal_shards::member::peer::link::PeerLink;
    use shoal_shards::member::peer::sim_link::{SimLink, SimNet};
    use std::rc::Rc;
    let env = shoal_io::MonoioEnv;
    let link = |far: Vec<Rc<shoal_shards::member::Member<SimDrive>>>, _deployment_id| {
        let net = Rc::new(SimNet::default());
        net.add_node(Vec::new());
        let far_node = net.add_node(far);
        let link: Rc<dyn PeerLink> = Rc::new(SimLink::new(env, net, (0, far_node), 7));
        link
    };
    store_over_two_nodes(drives, parity, link).await
}

/// Simulated drives, every odd one a drive of a second node served over real TCP on
/// loopback (`tcp_peer_store`): the suite through the peer protocol's frames,
/// handshake and wire form.
pub struct TcpPeers {
    pub made: Vec<SimDrive>,
}

impl Backend for TcpPeers {
    type D = SimDrive;
    fn drives(&mut self, count: usize) -> Vec<SimDrive> {
        self.made = Sim { made: vec![] }.drives(count);
        self.made.clone()
    }

    fn store(&mut self, count: usize, parity: usize) -> impl Future<Output = TestStore<SimDrive>> {
        tcp_peer_store(self.drives(count), parity)
    }

    fn drive<'a>(&'a self, _: &'a TestStore<SimDrive>, index: usize) -> &'a SimDrive {
        &self.made[index]
    }

    fn all_drives<'a>(&'a self, _: &'a TestStore<SimDrive>) -> Vec<&'a SimDrive> {
        self.made.iter().collect()
    }
}

/// As `peer_store`, but the second node serves its drives on a loopback TCP port the
/// way a server does (route preamble sorted from S3 clients, handed to the shard's
/// inbox, handshake with the cluster secret, `MemberService`), and the first reaches
/// them with a `TcpLink`.
pub async fn tcp_peer_store(drives: Vec<SimDrive>, parity: usize) -> TestStore<SimDrive> {
    use shoal_shards::front::peer::accept::{self, Sorted};
    use shoal_shards::front::peer::channel::{ChannelConfig, PeerChannel};
    use shoal_shards::front::peer::link::TcpLink;
    use shoal_shards::front::peer::member_service::MemberService;
    use shoal_shards::front::peer::permits::Permits;
    use shoal_shards::front::peer::serve::{ServeConfig, serve};
    use shoal_shards::member::peer::link::PeerLink;
    use std::rc::Rc;
    let secret = shoal_wire::handshake::ClusterSecret::derive("root", "test secret");
    let link = move |far: Vec<Rc<shoal_shards::member::Member<SimDrive>>>,
                     deployment_id: [u8; 16]| {
        let listener = monoio::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let address = listener.local_addr().expect("address");
        let (senders, mut inboxes) = accept::inboxes(1);
        let senders = Rc::new(std::cell::RefCell::new(senders));
        let config = ServeConfig::new(deployment_id, secret.clone());
        let service = Rc::new(MemberService::new(far));
        let permits = Permits::new(64);
        monoio::spawn(accept::receive(inboxes.remove(0), move |stream, _route| {
            let (config, service, permits) = (config.clone(), service.clone(), permits.clone());
            monoio::spawn(async move { serve(stream, &config, service, permits).await });
        }));
        monoio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let senders = senders.clone();
                monoio::spawn(async move {
                    let sorted =
                        accept::sort(stream, &senders, std::time::Duration::from_secs(5)).await;
                    assert!(matches!(sorted, Sorted::Peer), "only peers dial this port");
                });
            }
        });
        let channel = PeerChannel::new(ChannelConfig::new(
            address,
            0,
            deployment_id,
            secret.clone(),
        ));
        let link: Rc<dyn PeerLink> = Rc::new(TcpLink::new(channel));
        link
    };
    store_over_two_nodes(drives, parity, link).await
}

/// A store over `drives` (formatted here as one node would) whose odd positions are
/// drives of a second node, reached through the link `link` makes from that node's
/// members (and the deployment id), with bucket "bkt".
async fn store_over_two_nodes(
    drives: Vec<SimDrive>,
    parity: usize,
    link: impl FnOnce(
        Vec<std::rc::Rc<shoal_shards::member::Member<SimDrive>>>,
        [u8; 16],
    ) -> std::rc::Rc<dyn shoal_shards::member::peer::link::PeerLink>,
) -> TestStore<SimDrive> {
    use shoal_shards::member::{LocalMember, Member, PeerMember};
    use std::rc::Rc;
    let config = StoreConfig {
        parity_chunks: Some(parity),
        ..StoreConfig::default()
    };
    let clock = SimClock::new(1_700_000_000_000_000_000);
    let formatted = Store::open(
        drives.clone(),
        SimClock::new(1_700_000_000_000_000_000),
        42,
        config.clone(),
    );
    let deployment_id = formatted.await.expect("format").deployment_id();
    let env = shoal_io::MonoioEnv;
    let local = |drive: SimDrive| {
        let member = LocalMember::with_leases(drive, env, config.lease_duration);
        Rc::new(Member::Local(member))
    };
    let far: Vec<_> = drives
        .iter()
        .skip(1)
        .step_by(2)
        .cloned()
        .map(local)
        .collect();
    let link = link(far, deployment_id);
    let members = drives
        .into_iter()
        .enumerate()
        .map(|(position, drive)| {
            if position % 2 == 0 {
                return local(drive);
            }
            let name = format!("node1/{}", drive.name());
            let now = Rc::new(move || env.monotonic_nanos());
            let peer = PeerMember::new(
                name,
                (position / 2) as u32,
                Rc::clone(&link),
                now,
                config.member_deadline,
            );
            Rc::new(Member::Peer(peer))
        })
        .collect();
    let store = Store::open_members_in(members, deployment_id, (clock, env), 42, config)
        .await
        .expect("open store over peers");
    store.make_bucket("bkt").await.expect("make bucket");
    store
}

pub struct Sim {
    pub made: Vec<SimDrive>,
}

impl Backend for Sim {
    type D = SimDrive;
    fn drives(&mut self, count: usize) -> Vec<SimDrive> {
        self.made = (0..count)
            .map(|i| SimDrive::new(&format!("d{i}"), i as u64 + 1))
            .collect();
        self.made.clone()
    }
}

pub struct Dir {
    pub root: tempfile::TempDir,
}

impl Default for Dir {
    fn default() -> Self {
        Self::new()
    }
}

impl Dir {
    pub fn new() -> Self {
        Self {
            root: tempfile::tempdir().expect("tempdir"),
        }
    }
}

impl Backend for Dir {
    type D = DirDrive;
    fn drives(&mut self, count: usize) -> Vec<DirDrive> {
        self.root = tempfile::tempdir().expect("tempdir");
        (0..count)
            .map(|i| {
                let dir = self.root.path().join(format!("d{i}"));
                std::fs::create_dir_all(&dir).expect("drive folder");
                DirDrive::open(&dir).expect("open drive")
            })
            .collect()
    }
}

pub type TestStore<D> = Store<D, SimClock>;

/// A store of `drives` drives with `parity` parity chunks and bucket "bkt".
pub async fn store<D: Drive>(drives: Vec<D>, parity: usize) -> TestStore<D> {
    let config = StoreConfig {
        parity_chunks: Some(parity),
        ..StoreConfig::default()
    };
    let store = Store::open(drives, SimClock::new(1_700_000_000_000_000_000), 42, config)
        .await
        .expect("open store");
    store.make_bucket("bkt").await.expect("make bucket");
    store
}

/// `count` simulated drives `d0`, `d1`, … on the simulation's `env` (virtual time).
pub fn sim_drives(env: &shoal_io::SimEnv, count: usize) -> Vec<SimDrive> {
    (0..count)
        .map(|i| SimDrive::new(&format!("d{i}"), i as u64 + 1).with_env(env.clone()))
        .collect()
}

/// Puts `data` at `key` in bucket "bkt" (its length declared); the store's answer.
pub async fn try_put<D: Drive, C: Clock, E: Env>(
    store: &Store<D, C, E>,
    key: &str,
    data: &[u8],
) -> shoal_shards::Result<()> {
    let options = PutOptions {
        size_bytes: Some(data.len() as u64),
        ..PutOptions::default()
    };
    store
        .put_object("bkt", key, &options, &mut SliceSource(data))
        .await
        .map(|_| ())
}

/// `try_put`, which must succeed.
pub async fn put<D: Drive>(store: &TestStore<D>, key: &str, data: &[u8]) {
    try_put(store, key, data).await.expect("put");
}

pub async fn get<D: Drive>(store: &TestStore<D>, key: &str) -> shoal_shards::Result<Vec<u8>> {
    store.get_object("bkt", key, None).await?.read_all().await
}

/// Every file under `dir` on a drive (relative paths), depth first.
pub async fn files_under<D: Drive>(drive: &D, dir: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = drive.list_dir(&d).await else {
            continue;
        };
        for e in entries {
            let path = if d.is_empty() {
                e.name.clone()
            } else {
                format!("{d}/{}", e.name)
            };
            if e.is_dir {
                stack.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// How a drive is damaged.
#[derive(Debug, Clone, Copy)]
pub enum Damage {
    /// Every file and folder removed, format record included.
    Emptied,
    /// One byte flipped in every object file (metadata and chunk data).
    Flipped,
    /// Every object file cut to half its length.
    Truncated,
    /// Every object file deleted.
    Deleted,
}

pub async fn damage<D: Drive>(drive: &D, how: Damage, seed: u64) {
    if let Damage::Emptied = how {
        for e in drive.list_dir("").await.unwrap_or_default() {
            let _ = if e.is_dir {
                drive.remove_dir_all(&e.name).await
            } else {
                drive.remove_file(&e.name).await
            };
        }
        return;
    }
    for (i, path) in files_under(drive, "bkt").await.into_iter().enumerate() {
        let bytes = drive.read_file(&path).await.expect("read for damage");
        match how {
            Damage::Flipped if !bytes.is_empty() => {
                let mut bad = bytes.clone();
                let at = (seed as usize).wrapping_mul(31).wrapping_add(i * 7919) % bad.len();
                bad[at] ^= 0x5A;
                drive.write_file_atomic(&path, &bad).await.expect("flip");
            }
            Damage::Truncated => {
                drive
                    .write_file_atomic(&path, &bytes[..bytes.len() / 2])
                    .await
                    .expect("truncate");
            }
            Damage::Deleted => drive.remove_file(&path).await.expect("delete"),
            _ => {}
        }
    }
}
