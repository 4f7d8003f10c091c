//! Moving an accepted connection from the shard that accepted it to the shard that must
//! serve it, and looking at its first byte without taking it.
//!
//! Every shard listens on the shared port (SO_REUSEPORT), so the kernel, not the
//! client, chooses the shard that accepts. A peer node's connection must meet the
//! key's owner core (DESIGN.md §6): it announces its target shard in a short preamble,
//! and the accepting shard hands the socket over. Each runtime owns the descriptors it
//! registered (io_uring or epoll state), so a socket cannot simply change threads: the
//! accepting shard duplicates the descriptor ([`release`]), drops its own stream
//! (which ends its registration), and sends the duplicate, an `OwnedFd`, to the target
//! shard, which registers it with its own runtime ([`adopt`]). The socket itself (the
//! kernel's file description, its queued bytes) is untouched: no byte is lost.
//!
//! [`peek_byte`] tells an S3 connection (a method letter, or 0x16 for TLS) from a
//! peer's preamble without consuming anything, so an S3 connection goes on exactly
//! as if nobody had looked. [`closer`] gives a handle that ends a connection while a
//! task still waits on it.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};

use monoio::net::TcpStream;

/// Waits until `stream` has a byte to read and returns it without consuming it;
/// `None` when the peer closed the connection before sending anything.
pub async fn peek_byte(stream: &TcpStream) -> io::Result<Option<u8>> {
    loop {
        stream.readable(false).await?;
        let mut byte = 0u8;
        // SAFETY: `byte` is a valid, writable one-byte buffer for the duration of the
        // call; the descriptor is the stream's, open while `stream` is borrowed.
        #[allow(unsafe_code)]
        let got = unsafe {
            libc::recv(
                stream.as_raw_fd(),
                (&raw mut byte).cast(),
                1,
                libc::MSG_PEEK | libc::MSG_DONTWAIT,
            )
        };
        match got {
            1 => return Ok(Some(byte)),
            0 => return Ok(None),
            _ => {
                let error = io::Error::last_os_error();
                match error.kind() {
                    // A spurious readiness (relaxed drivers may report one): wait again.
                    io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => {}
                    _ => return Err(error),
                }
            }
        }
    }
}

/// Takes the socket out of this shard's runtime: returns a descriptor of it that any
/// thread may adopt. `stream` must have no operation in flight (it is consumed).
pub fn release(stream: TcpStream) -> io::Result<OwnedFd> {
    let owned = duplicate(&stream)?;
    // Ends this runtime's registration and closes its descriptor; the duplicate keeps
    // the socket open.
    drop(stream);
    Ok(owned)
}

/// A second handle on `stream`'s socket (a duplicated descriptor, outside any
/// runtime) whose `shutdown(Both)` ends the connection for every holder: a read or
/// write in flight on `stream` (or its halves) completes at once. For a connection
/// given up while a task still waits on it (a peer gone silent).
pub fn closer(stream: &TcpStream) -> io::Result<std::net::TcpStream> {
    duplicate(stream).map(std::net::TcpStream::from)
}

/// A new descriptor (close-on-exec) of `stream`'s socket, owned by the caller.
fn duplicate(stream: &TcpStream) -> io::Result<OwnedFd> {
    // SAFETY: the descriptor is open while `stream` is borrowed, and borrowed only
    // for this call; `try_clone_to_owned` duplicates it (F_DUPFD_CLOEXEC) into a new
    // descriptor nothing else owns.
    #[allow(unsafe_code)]
    let borrowed = unsafe { std::os::fd::BorrowedFd::borrow_raw(stream.as_raw_fd()) };
    borrowed.try_clone_to_owned()
}

/// Registers a socket released by another shard ([`release`]) with this shard's
/// runtime.
pub fn adopt(socket: OwnedFd) -> io::Result<TcpStream> {
    let stream = std::net::TcpStream::from(socket);
    stream.set_nonblocking(true)?;
    TcpStream::from_std(stream)
}

#[cfg(test)]
mod tests {
    use super::*;
    use monoio::io::{AsyncReadRentExt, AsyncWriteRentExt};

    /// A peeked byte stays for the next read; a released socket adopted by another
    /// runtime on another thread keeps every byte queued on it and can answer.
    #[test]
    fn a_connection_moves_to_another_runtime_with_its_bytes() {
        let (mut runtime, _) =
            crate::build_runtime(&crate::RuntimeConfig::default()).expect("runtime");
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let address = listener.local_addr().expect("address");
        let client = std::thread::spawn(move || {
            use std::io::{Read, Write};
            let mut socket = std::net::TcpStream::connect(address).expect("connect");
            socket.write_all(b"hello, shard").expect("write");
            let mut answer = [0u8; 2];
            socket.read_exact(&mut answer).expect("answer");
            answer
        });
        let (accepted, _) = listener.accept().expect("accept");
        let released = runtime.block_on(async move {
            let stream = adopt(OwnedFd::from(accepted)).expect("register");
            assert_eq!(peek_byte(&stream).await.expect("peek"), Some(b'h'));
            assert_eq!(peek_byte(&stream).await.expect("peek again"), Some(b'h'));
            release(stream).expect("release")
        });
        let other = std::thread::spawn(move || {
            let (mut runtime, _) =
                crate::build_runtime(&crate::RuntimeConfig::default()).expect("runtime");
            runtime.block_on(async move {
                let mut stream = adopt(released).expect("adopt");
                let (read, buf) = stream.read_exact(vec![0u8; 12]).await;
                read.expect("every byte is still queued");
                assert_eq!(&buf, b"hello, shard");
                let (written, _) = stream.write_all(b"ok".to_vec()).await;
                written.expect("answer");
            });
        });
        other.join().expect("other runtime");
        assert_eq!(&client.join().expect("client"), b"ok");
    }

    /// A peer that closes before sending anything peeks as `None`.
    #[test]
    fn a_closed_connection_peeks_as_none() {
        let (mut runtime, _) =
            crate::build_runtime(&crate::RuntimeConfig::default()).expect("runtime");
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let address = listener.local_addr().expect("address");
        drop(std::net::TcpStream::connect(address).expect("connect"));
        let (accepted, _) = listener.accept().expect("accept");
        runtime.block_on(async move {
            let stream = adopt(OwnedFd::from(accepted)).expect("register");
            assert_eq!(peek_byte(&stream).await.expect("peek"), None);
        });
    }
}
