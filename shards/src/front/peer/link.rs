//! `TcpLink`: the `PeerLink` of the server, a `PeerMember`'s calls as frames over
//! `PeerChannel`s to the shards of one peer node (`channel.rs`), in their wire form
//! (`member/peer/wire_form`).
//!
//! Routing (`member/peer/route.rs`): a call with a route (the owner hash of the key,
//! bucket, upload or lock it names) goes to shard `route % n` of the peer, where `n` is
//! the peer's shard count as its handshake's Welcome told it; a call without one goes
//! to the link's own channel (this shard's index on the peer, modulo `n` there). The
//! own channel is dialed first: until it has told `n`, a routed call waits for it
//! (within its deadline). Channels to other shards are opened on first use, at most one
//! per peer shard, each with its own connection, backoff and liveness.
//!
//! The link keeps the first `n` it learns for its lifetime, so a route always takes the
//! same channel: a lock's refresh and release reach the connection that holds its
//! grant, and a handle's calls the connection that opened it (both live per connection
//! on the far side), even when the peer restarts with another shard count meanwhile.
//! Such a peer is then served correctly but partly off its owner shards (it wraps an
//! index beyond its count, `accept.rs`; `shoal_node_peer_verbs_total{shard="other"}`
//! there counts it) until this node restarts; the link says so once in the log.
//!
//! One frame payload travels each way: a call's bulk (a record) or the caller's chunk
//! buffer (a `StageAppend`'s blocks) out; an answer's bulk or chunk records (a
//! `ReadRecords`) back, read into the caller's buffer when it gave one. The caller's
//! buffer always comes back (the link contract, `member/peer/link.rs`).

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

use monoio::time::Instant;
use shoal_io::AlignedBuf;

use crate::front::peer::channel::{CallError, ChannelConfig, PeerChannel};
use crate::member::peer::link::{CallFuture, LinkError, PeerCall, PeerLink};
use crate::member::peer::wire_form::{decode_answer, encode_call};

/// A peer node's shards, reached over TCP.
pub struct TcpLink {
    router: Rc<Router>,
}

struct Router {
    /// The channel to this shard's own index on the peer (unrouted calls, and the
    /// first handshake that tells the peer's shard count).
    own: PeerChannel,
    /// How channels to the peer's other shards are dialed (`own`'s, another target).
    config: ChannelConfig,
    /// Channels to the peer's other shards, by shard, opened on first use.
    others: RefCell<HashMap<u16, PeerChannel>>,
    /// The peer's shard count routes are resolved by: the first one a handshake told,
    /// kept (see the module doc).
    shards: Cell<Option<u32>>,
    /// Whether a handshake told another count since (logged once).
    told_other: Cell<bool>,
}

impl TcpLink {
    /// The link whose own channel is `channel`; routed calls reach the peer's other
    /// shards over channels dialed like it.
    pub fn new(channel: PeerChannel) -> Self {
        let config = channel.config().clone();
        Self {
            router: Rc::new(Router {
                own: channel,
                config,
                others: RefCell::new(HashMap::new()),
                shards: Cell::new(None),
                told_other: Cell::new(false),
            }),
        }
    }

    /// Whether the own channel's connection is open now.
    pub fn is_up(&self) -> bool {
        self.router.own.is_up()
    }

    /// Channels open to the peer's shards other than the own one (tests watch it).
    pub fn routed_channels(&self) -> usize {
        self.router.others.borrow().len()
    }
}

impl Router {
    /// The channel a call with `route` goes over, learning the peer's shard count
    /// first if no handshake told it yet (by `until`).
    async fn channel_for(
        &self,
        route: Option<u64>,
        until: Instant,
    ) -> Result<PeerChannel, CallError> {
        let Some(hash) = route else {
            return Ok(self.own.clone());
        };
        let shards = self.route_shards(until).await?;
        // At most `SHARDS_MAX` (1 << 16) shards: every index fits 16 bits.
        let target = u16::try_from(hash % u64::from(shards)).unwrap_or(u16::MAX);
        let own_target = u32::from(self.config.target_shard) % shards;
        if u32::from(target) == own_target {
            return Ok(self.own.clone());
        }
        let mut others = self.others.borrow_mut();
        let channel = others.entry(target).or_insert_with(|| {
            let mut config = self.config.clone();
            config.target_shard = target;
            PeerChannel::new(config)
        });
        Ok(channel.clone())
    }
}

impl Router {
    /// The shard count routes are resolved by (at least 1): the kept one, or the first
    /// a handshake tells (waiting for the own channel's, by `until`).
    async fn route_shards(&self, until: Instant) -> Result<u32, CallError> {
        let kept = if let Some(kept) = self.shards.get() {
            kept
        } else {
            let left = until.saturating_duration_since(Instant::now());
            let told = self.own.peer_shards(left).await?.max(1);
            // Another call may have learned it while this one waited: the first wins.
            let kept = self.shards.get().unwrap_or(told);
            self.shards.set(Some(kept));
            kept
        };
        if let Some(told) = self.own.known_peer_shards()
            && told.max(1) != kept
            && !self.told_other.replace(true)
        {
            tracing::warn!(
                peer = %self.config.address,
                kept,
                told,
                "the peer now runs {told} shards; this node keeps routing its calls by the \
                 {kept} it first told (served correctly, partly off their owner shards) until \
                 this node restarts"
            );
        }
        Ok(kept)
    }
}

impl From<CallError> for LinkError {
    fn from(error: CallError) -> Self {
        match error {
            CallError::Unreachable(why) => LinkError::Unreachable(why),
            CallError::Timeout => LinkError::Timeout,
            CallError::Protocol(why) => LinkError::Protocol(why),
        }
    }
}

impl PeerLink for TcpLink {
    fn call(&self, call: PeerCall, buf: Option<AlignedBuf>) -> CallFuture {
        let router = self.router.clone();
        Box::pin(async move {
            let started = Instant::now();
            let until = started + call.deadline;
            let channel = match router.channel_for(call.route, until).await {
                Ok(channel) => channel,
                Err(error) => return (Err(LinkError::from(error)), buf),
            };
            if let Err(error) = channel.ready(until).await {
                return (Err(LinkError::from(error)), buf);
            }
            // A fenced verb's lease counts from when it was built: the wait for a
            // connection comes off what the far side is told is left.
            let mut call = call;
            let waited = started.elapsed();
            call.request
                .age_fence(u64::try_from(waited.as_nanos()).unwrap_or(u64::MAX));
            let deadline = until.saturating_duration_since(Instant::now());
            let request = call.request.clone();
            let chunks_len_bytes = buf.as_ref().map_or(0, AlignedBuf::len);
            let outgoing = match encode_call(call, chunks_len_bytes) {
                Ok(outgoing) => outgoing,
                Err(error) => return (Err(LinkError::Protocol(error.to_string())), buf),
            };
            let caller_gave = buf.is_some();
            // A call's bulk goes out instead of the caller's buffer, which waits aside.
            let (payload, aside) = match outgoing.bulk {
                Some(bulk) => (Some(bulk), buf),
                None => (buf, None),
            };
            let (answer, back) = channel.call(outgoing.body, payload, deadline).await;
            let reply = answer.map_err(LinkError::from).and_then(|body| {
                decode_answer(&request, &body, back.as_ref())
                    .map_err(|error| LinkError::Protocol(error.to_string()))
            });
            let returned = match aside {
                Some(original) => Some(original),
                None if caller_gave => back,
                None => None,
            };
            (reply, returned)
        })
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::future::Future;
    use std::pin::Pin;
    use std::time::Duration;

    use super::*;
    use crate::front::peer::accept::{self, Sorted};
    use crate::front::peer::permits::Permits;
    use crate::front::peer::serve::{Answer, PeerService, ServeConfig, serve};
    use crate::front::peer::tests::{DEPLOYMENT, listen, secret};

    /// A shard that answers every call with its own index.
    struct Shard(u8);

    impl PeerService for Shard {
        type Session = ();

        fn session(&self) {}

        fn call(
            &self,
            _session: &Rc<()>,
            _body: Vec<u8>,
            _payload: Option<AlignedBuf>,
        ) -> Pin<Box<dyn Future<Output = Answer>>> {
            let index = self.0;
            Box::pin(async move { (vec![index], None) })
        }

        fn end(&self, _session: Rc<()>) -> Pin<Box<dyn Future<Output = ()>>> {
            Box::pin(async {})
        }
    }

    /// What a call's fenced verb arrived with: the lease time left it carried.
    struct FenceRecorder(Rc<Cell<Option<u64>>>);

    impl PeerService for FenceRecorder {
        type Session = ();

        fn session(&self) {}

        fn call(
            &self,
            _session: &Rc<()>,
            body: Vec<u8>,
            payload: Option<AlignedBuf>,
        ) -> Pin<Box<dyn Future<Output = Answer>>> {
            let mut incoming = crate::member::peer::wire_form::decode_call(&body, payload)
                .expect("a call in its wire form");
            let left = incoming.request.fence_mut().map(|fence| fence.left_nanos);
            self.0.set(left);
            Box::pin(async { (vec![0], None) })
        }

        fn end(&self, _session: Rc<()>) -> Pin<Box<dyn Future<Output = ()>>> {
            Box::pin(async {})
        }
    }

    /// Serves peers on `listener` like a node of `shards` shards: each connection goes
    /// to the shard its preamble names, whose service answers with its index.
    fn serve_shards(listener: monoio::net::TcpListener, shards: usize) {
        serve_with(listener, shards, |index| {
            Rc::new(Shard(u8::try_from(index).expect("few shards")))
        });
    }

    /// Serves peers on `listener` like a node of `shards` shards, each shard with the
    /// service `service` makes for its index.
    fn serve_with<S: PeerService + 'static>(
        listener: monoio::net::TcpListener,
        shards: usize,
        service: impl Fn(usize) -> Rc<S>,
    ) {
        let mut config = ServeConfig::new(DEPLOYMENT, secret());
        config.shards = u32::try_from(shards).expect("few shards");
        let (senders, receivers) = accept::inboxes(shards);
        for (index, inbox) in receivers.into_iter().enumerate() {
            let service = service(index);
            let (config, permits) = (config.clone(), Permits::new(8));
            monoio::spawn(accept::receive(inbox, move |stream, _route| {
                let (config, service, permits) = (config.clone(), service.clone(), permits.clone());
                monoio::spawn(async move { serve(stream, &config, service, permits).await });
            }));
        }
        let senders = Rc::new(RefCell::new(senders));
        monoio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let senders = senders.clone();
                monoio::spawn(async move {
                    let sorted = accept::sort(stream, &senders, Duration::from_secs(5)).await;
                    assert!(matches!(sorted, Sorted::Peer), "only peers dial here");
                });
            }
        });
    }

    /// Which shard of the peer answered a call with `route`.
    async fn answered_by(link: &TcpLink, route: Option<u64>) -> u8 {
        let until = Instant::now() + Duration::from_secs(5);
        let channel = link.router.channel_for(route, until).await.expect("routed");
        let (answer, _) = channel.call(vec![0], None, Duration::from_secs(5)).await;
        answer.expect("an answer")[0]
    }

    /// A routed call is served by shard `route % n` of a peer of `n` shards (the
    /// Welcome told `n`), an unrouted one by the link's own shard index there; one
    /// channel per peer shard is opened, on first use.
    #[test]
    fn routed_calls_reach_the_owner_shard_of_the_peer() {
        crate::front::peer::test_runtime().block_on(async {
            let (listener, address) = listen();
            serve_shards(listener, 3);
            let own = PeerChannel::new(ChannelConfig::new(address, 1, DEPLOYMENT, secret()));
            let link = TcpLink::new(own);
            assert_eq!(answered_by(&link, None).await, 1);
            for route in [0u64, 1, 2, 3, 4, 5, 1 << 40, u64::MAX] {
                let owner = u8::try_from(route % 3).expect("a shard");
                assert_eq!(
                    answered_by(&link, Some(route)).await,
                    owner,
                    "route {route}"
                );
            }
            assert_eq!(
                link.routed_channels(),
                2,
                "shards 0 and 2; 1 is the own channel"
            );
        });
    }

    /// A first call that is routed waits for the own channel's handshake to learn the
    /// peer's shard count; a peer of fewer shards than this node's index takes the own
    /// channel modulo its count (and so does every route on a one-shard peer).
    #[test]
    fn routes_follow_the_shard_count_the_peer_told() {
        crate::front::peer::test_runtime().block_on(async {
            let (listener, address) = listen();
            serve_shards(listener, 1);
            let own = PeerChannel::new(ChannelConfig::new(address, 5, DEPLOYMENT, secret()));
            let link = TcpLink::new(own);
            for route in [7u64, 8, 9] {
                assert_eq!(answered_by(&link, Some(route)).await, 0);
            }
            assert_eq!(link.routed_channels(), 0, "one shard: the own channel only");
            assert_eq!(link.router.own.known_peer_shards(), Some(1));

            let (listener, address) = listen();
            serve_shards(listener, 2);
            let own = PeerChannel::new(ChannelConfig::new(address, 5, DEPLOYMENT, secret()));
            let link = TcpLink::new(own);
            assert_eq!(answered_by(&link, Some(4)).await, 0);
            assert_eq!(answered_by(&link, None).await, 1, "5 mod 2 on the peer");
            assert_eq!(answered_by(&link, Some(7)).await, 1);
            assert_eq!(link.routed_channels(), 1);
        });
    }

    /// Once a route was resolved, it keeps its channel when a later handshake tells
    /// another shard count (the peer restarted with other `--shards`): a lock granted
    /// on that connection is refreshed and released there, a handle read where it was
    /// opened.
    #[test]
    fn routes_keep_their_channel_when_the_peer_tells_another_count() {
        crate::front::peer::test_runtime().block_on(async {
            let (listener, address) = listen();
            serve_shards(listener, 3);
            let own = PeerChannel::new(ChannelConfig::new(address, 1, DEPLOYMENT, secret()));
            let link = TcpLink::new(own);
            assert_eq!(answered_by(&link, Some(5)).await, 2);
            assert_eq!(answered_by(&link, Some(3)).await, 0);
            link.router.own.tell_peer_shards(2);
            assert_eq!(answered_by(&link, Some(5)).await, 2, "5 mod 3, kept");
            assert_eq!(answered_by(&link, Some(3)).await, 0);
            assert_eq!(
                answered_by(&link, Some(4)).await,
                1,
                "the own channel, 4 mod 3"
            );
            assert_eq!(
                link.routed_channels(),
                2,
                "no channel opened by the new count"
            );
        });
    }

    /// A fenced verb that waited for its connection tells the far side the lease time
    /// left when it is sent, not when it was built: the wait is taken off.
    #[test]
    fn the_wait_for_a_connection_comes_off_a_fence() {
        crate::front::peer::test_runtime().block_on(async {
            let (listener, address) = listen();
            let seen = Rc::new(Cell::new(None));
            let recorder = Rc::clone(&seen);
            let late = Duration::from_millis(300);
            monoio::spawn(async move {
                monoio::time::sleep(late).await;
                serve_with(listener, 1, move |_| {
                    Rc::new(FenceRecorder(recorder.clone()))
                });
            });
            let own = PeerChannel::new(ChannelConfig::new(address, 0, DEPLOYMENT, secret()));
            let link = TcpLink::new(own);
            let lease = Duration::from_secs(10);
            let request = crate::member::peer::message::PeerRequest::DeleteVersion {
                bucket: "b".to_owned(),
                key: "k".to_owned(),
                expect_previous: crate::member::verbs::write::Expect::Absent,
                fence: crate::member::peer::message::FenceLeft {
                    epoch: 1,
                    left_nanos: u64::try_from(lease.as_nanos()).expect("fits"),
                },
            };
            let call = PeerCall {
                drive_index: 0,
                request,
                deadline: Duration::from_secs(5),
                route: None,
            };
            let _ = link.call(call, None).await;
            let left = seen.get().expect("the verb arrived with its fence");
            let waited = u64::try_from(lease.saturating_sub(late).as_nanos()).expect("fits");
            assert!(left <= waited, "{left} ns left after a {late:?} wait");
        });
    }
}
