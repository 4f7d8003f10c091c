//! Sorting accepted connections: S3 clients stay on the shard that accepted them; a
//! peer's connection goes to the shard its route preamble names.
//!
//! Each shard has a bounded inbox of handed sockets (`inbox_capacity`: room for every
//! peer shard's connection to it at once, as after this node restarts and every peer
//! shard dials it again); a full inbox closes the newcomer (its dialer retries), so a
//! burst of peer connections never grows memory. Reading the preamble is bounded by the connection's head
//! deadline, like an S3 request head. Nothing a peer sent before the handshake is
//! trusted: the preamble only says where the socket goes. Its TLS flag travels with
//! the socket; the serving shard runs TLS, or refuses a peer whose TLS does not match
//! this node's (`serve.rs`).

use std::cell::RefCell;
use std::os::fd::OwnedFd;
use std::time::Duration;

use futures_channel::mpsc;
use futures_util::StreamExt;
use monoio::io::AsyncReadRentExt;
use monoio::net::TcpStream;
use shoal_wire::route::{ROUTE_LEN_BYTES, Route};

/// Handed sockets one shard queues before it has adopted them, at least.
pub const PEER_INBOX_CAPACITY: usize = 64;

/// Handed sockets one shard of a node of `shards` shards with `peers` peers (each as
/// many shards) may queue: twice what all the peers' shards dial to it at once.
pub fn inbox_capacity(shards: usize, peers: usize) -> usize {
    PEER_INBOX_CAPACITY.max(2 * shards * peers)
}

/// A peer's socket on its way to the shard that serves it.
#[derive(Debug)]
pub struct HandedPeer {
    pub socket: OwnedFd,
    pub route: Route,
}

/// One inbox per shard: the senders (cloned to every shard) and each shard's receiver.
pub fn inboxes(
    shards: usize,
) -> (
    Vec<mpsc::Sender<HandedPeer>>,
    Vec<mpsc::Receiver<HandedPeer>>,
) {
    inboxes_of(shards, PEER_INBOX_CAPACITY)
}

/// `inboxes` of `capacity` sockets each.
pub fn inboxes_of(
    shards: usize,
    capacity: usize,
) -> (
    Vec<mpsc::Sender<HandedPeer>>,
    Vec<mpsc::Receiver<HandedPeer>>,
) {
    (0..shards).map(|_| mpsc::channel(capacity)).unzip()
}

/// What became of an accepted connection.
#[derive(Debug)]
pub enum Sorted {
    /// An S3 client's: serve it here, not a byte of it consumed.
    S3(TcpStream),
    /// A peer's: handed to its shard (or closed: bad preamble, no such shard, inbox
    /// full, or silent past the deadline).
    Peer,
}

/// Looks at a new connection's first byte; a peer's is routed through `inboxes`.
pub async fn sort(
    stream: TcpStream,
    inboxes: &RefCell<Vec<mpsc::Sender<HandedPeer>>>,
    head_timeout: Duration,
) -> Sorted {
    let peeked = monoio::time::timeout(head_timeout, shoal_io::handoff::peek_byte(&stream));
    match peeked.await {
        Ok(Ok(Some(first))) if Route::starts_with(first) => {}
        // An S3 client, or one that is gone or silent: the S3 path has its own
        // deadlines and answers (or closes) as it always did.
        _ => return Sorted::S3(stream),
    }
    route(stream, inboxes, head_timeout).await;
    Sorted::Peer
}

/// Reads a peer's preamble and hands its socket over; any failure closes it.
async fn route(
    mut stream: TcpStream,
    inboxes: &RefCell<Vec<mpsc::Sender<HandedPeer>>>,
    head_timeout: Duration,
) {
    let read = monoio::time::timeout(head_timeout, stream.read_exact(vec![0u8; ROUTE_LEN_BYTES]));
    let Ok((Ok(_), bytes)) = read.await else {
        return;
    };
    let Ok(preamble) = <[u8; ROUTE_LEN_BYTES]>::try_from(bytes.as_slice()) else {
        return;
    };
    let route = match Route::decode(&preamble) {
        Ok(route) => route,
        Err(error) => {
            tracing::debug!(%error, "peer connection refused");
            return;
        }
    };
    let Ok(socket) = shoal_io::handoff::release(stream) else {
        return;
    };
    // The accepting shard's own senders, never clones: a fresh clone of a bounded
    // sender always has room, so only these keep the inbox's bound. Nodes of a pool
    // normally run as many shards each; a peer with more than this node reaches the
    // shard its target wraps to (a key still meets on one core here).
    let mut senders = inboxes.borrow_mut();
    let count = senders.len().max(1);
    let Some(inbox) = senders.get_mut(usize::from(route.target_shard) % count) else {
        return;
    };
    if inbox.try_send(HandedPeer { socket, route }).is_err() {
        tracing::debug!(
            shard = route.target_shard,
            "peer inbox full: connection closed"
        );
    }
}

/// Adopts every socket handed to this shard and gives it to `serve`, until every
/// sender is gone.
pub async fn receive(
    mut inbox: mpsc::Receiver<HandedPeer>,
    mut serve: impl FnMut(TcpStream, Route),
) {
    while let Some(handed) = inbox.next().await {
        match shoal_io::handoff::adopt(handed.socket) {
            Ok(stream) => serve(stream, handed.route),
            Err(error) => tracing::debug!(%error, "cannot adopt a peer connection"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use monoio::io::AsyncWriteRentExt;
    use std::io::{Read, Write};

    const DEADLINE: Duration = Duration::from_secs(5);

    /// A peer's connection accepted by shard 0 reaches shard 1 with the bytes that
    /// followed its preamble; an S3 client's stays where it was, unread.
    #[test]
    fn a_peer_reaches_its_shard_and_a_client_stays() {
        let (senders, mut receivers) = inboxes(2);
        let senders = RefCell::new(senders);
        let inbox_1 = receivers.pop().expect("shard 1");
        let shard_1 = std::thread::spawn(move || {
            crate::front::peer::test_runtime().block_on(async move {
                let (tx, rx) = futures_channel::oneshot::channel();
                let mut tx = Some(tx);
                let receiving = receive(inbox_1, move |stream, route| {
                    if let Some(tx) = tx.take() {
                        let _ = tx.send((stream, route));
                    }
                });
                monoio::spawn(receiving);
                let (mut stream, route) = rx.await.expect("a handed peer");
                let (read, bytes) = stream.read_exact(vec![0u8; 5]).await;
                read.expect("bytes after the preamble");
                let (written, _) = stream.write_all(b"back".to_vec()).await;
                written.expect("shard 1 answers on the handed socket");
                (route, bytes)
            })
        });
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let address = listener.local_addr().expect("address");
        let mut peer = std::net::TcpStream::connect(address).expect("connect");
        let route = Route {
            target_shard: 3,
            tls: false,
        };
        peer.write_all(&route.encode()).expect("preamble");
        peer.write_all(b"hello").expect("hello");
        let mut client = std::net::TcpStream::connect(address).expect("client");
        client.write_all(b"GET / HTTP/1.1\r\n").expect("request");
        let sorted: Vec<bool> = crate::front::peer::test_runtime().block_on(async {
            let mut kinds = Vec::new();
            for _ in 0..2 {
                let (accepted, _) = listener.accept().expect("accept");
                let stream = shoal_io::handoff::adopt(accepted.into()).expect("register");
                let sorted = sort(stream, &senders, DEADLINE).await;
                if let Sorted::S3(mut stream) = sorted {
                    let (read, bytes) = stream.read_exact(vec![0u8; 4]).await;
                    read.expect("the client's bytes are all there");
                    assert_eq!(&bytes, b"GET ");
                    kinds.push(false);
                } else {
                    kinds.push(true);
                }
            }
            kinds
        });
        assert_eq!(sorted, [true, false]);
        let (got_route, bytes) = shard_1.join().expect("shard 1");
        assert_eq!(got_route, route);
        assert_eq!(&bytes, b"hello");
        let mut answer = [0u8; 4];
        peer.set_read_timeout(Some(DEADLINE)).expect("timeout");
        peer.read_exact(&mut answer).expect("shard 1's answer");
        assert_eq!(&answer, b"back");
    }

    /// A bad preamble (version, reserved bytes) closes the socket.
    #[test]
    fn a_bad_preamble_is_closed() {
        let (senders, _receivers) = inboxes(1);
        let senders = RefCell::new(senders);
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let address = listener.local_addr().expect("address");
        let mut bad_version = Route {
            target_shard: 0,
            tls: false,
        }
        .encode();
        bad_version[4] = 9;
        let mut reserved = Route {
            target_shard: 0,
            tls: false,
        }
        .encode();
        reserved[12] = 1;
        for preamble in [bad_version, reserved] {
            let mut peer = std::net::TcpStream::connect(address).expect("connect");
            peer.write_all(&preamble).expect("preamble");
            crate::front::peer::test_runtime().block_on(async {
                let (accepted, _) = listener.accept().expect("accept");
                let stream = shoal_io::handoff::adopt(accepted.into()).expect("register");
                assert!(matches!(
                    sort(stream, &senders, DEADLINE).await,
                    Sorted::Peer
                ));
            });
            let mut rest = [0u8; 1];
            peer.set_read_timeout(Some(DEADLINE)).expect("timeout");
            assert_eq!(peer.read(&mut rest).expect("closed, not timed out"), 0);
        }
    }
}
