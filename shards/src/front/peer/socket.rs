//! A peer connection's two halves, plain TCP or TLS (`--certs-dir`), each used by a task
//! of its own: one reads frames while the other writes them.
//!
//! TLS runs here on a rustls `Connection` shared by the halves (`Rc<RefCell<..>>`,
//! never borrowed across an await), the ciphertext moving through each half's own
//! buffer and socket half. Not monoio-rustls's split stream: its read half, on a bad
//! record, writes the alert through the write buffer the other half may have lent to
//! the kernel at that moment, and panics (an attacker on the path could end a node).
//! Here a broken record is an error of the read half alone; the alert is not sent.
//!
//! Invariants: a half's socket operation owns the half's buffer, so a half dropped
//! mid-read or mid-write (a timeout) leaves an empty buffer and a connection that is
//! never used again, never a panic; in plain mode a payload goes straight between the
//! socket and the caller's aligned buffer (TLS costs one copy: decryption).
//! Memory per half: one ciphertext buffer (`CIPHER_READ_BYTES` in, rustls's bounded
//! output, about 64 KiB, out) plus rustls's own bounded buffers.

use std::cell::RefCell;
use std::io::{self, Read, Write};
use std::rc::Rc;
use std::sync::Arc;

use monoio::buf::IoBufMut;
use monoio::io::{
    AsyncReadRent, AsyncReadRentExt, AsyncWriteRent, AsyncWriteRentExt, OwnedReadHalf,
    OwnedWriteHalf, Splitable,
};
use monoio::net::TcpStream;
use shoal_io::AlignedBuf;

use crate::front::tls::PeerTls;

/// Ciphertext read from the socket at a time (a TLS record is at most ~16.6 KiB).
pub const CIPHER_READ_BYTES: usize = 17 << 10;

type Session = Rc<RefCell<rustls::Connection>>;

/// The receiving half.
pub struct SocketReader {
    tcp: OwnedReadHalf<TcpStream>,
    tls: Option<TlsIn>,
}

/// The sending half.
pub struct SocketWriter {
    tcp: OwnedWriteHalf<TcpStream>,
    tls: Option<TlsOut>,
}

struct TlsIn {
    session: Session,
    /// Ciphertext read and not yet given to rustls: `cipher[start..]`.
    cipher: Vec<u8>,
    start: usize,
}

struct TlsOut {
    session: Session,
    /// Ciphertext on its way to the socket.
    out: Vec<u8>,
}

/// A plain connection's halves.
pub fn plain(stream: TcpStream) -> (SocketReader, SocketWriter) {
    let (read_half, write_half) = stream.into_split();
    (
        SocketReader {
            tcp: read_half,
            tls: None,
        },
        SocketWriter {
            tcp: write_half,
            tls: None,
        },
    )
}

/// The dialer's side of TLS on `stream`: the listener's certificate is verified by
/// `tls` (its CAs, its name). The caller bounds the time.
pub async fn connect(
    mut stream: TcpStream,
    tls: &PeerTls,
) -> io::Result<(SocketReader, SocketWriter)> {
    let client = rustls::ClientConnection::new(tls.config.clone(), tls.server_name.clone())
        .map_err(|e| io::Error::other(format!("TLS: {e}")))?;
    let mut session = rustls::Connection::from(client);
    let leftover = handshake(&mut stream, &mut session).await?;
    Ok(split(stream, session, leftover))
}

/// The listener's side of TLS on `stream`, with the node's certificate. The caller
/// bounds the time.
pub async fn accept(
    mut stream: TcpStream,
    config: Arc<rustls::ServerConfig>,
) -> io::Result<(SocketReader, SocketWriter)> {
    let server =
        rustls::ServerConnection::new(config).map_err(|e| io::Error::other(format!("TLS: {e}")))?;
    let mut session = rustls::Connection::from(server);
    let leftover = handshake(&mut stream, &mut session).await?;
    Ok(split(stream, session, leftover))
}

fn split(
    stream: TcpStream,
    session: rustls::Connection,
    leftover: Vec<u8>,
) -> (SocketReader, SocketWriter) {
    let session = Rc::new(RefCell::new(session));
    let (read_half, write_half) = stream.into_split();
    let reader = SocketReader {
        tcp: read_half,
        tls: Some(TlsIn {
            session: session.clone(),
            cipher: leftover,
            start: 0,
        }),
    };
    let writer = SocketWriter {
        tcp: write_half,
        tls: Some(TlsOut {
            session,
            out: Vec::new(),
        }),
    };
    (reader, writer)
}

/// Runs the TLS handshake on the whole stream; returns ciphertext read past it that
/// rustls has not taken yet (application records that came with the last flight).
async fn handshake(
    stream: &mut TcpStream,
    session: &mut rustls::Connection,
) -> io::Result<Vec<u8>> {
    let mut cipher = Vec::with_capacity(CIPHER_READ_BYTES);
    let mut out = Vec::new();
    let mut start = 0;
    while session.is_handshaking() {
        out = send_pending(stream, session, out).await?;
        if !session.is_handshaking() {
            break;
        }
        if start == cipher.len() {
            cipher.clear();
            start = 0;
            let (read, buf) = stream.read(cipher.slice_mut(0..CIPHER_READ_BYTES)).await;
            cipher = buf.into_inner();
            if read? == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the peer closed the connection during the TLS handshake",
                ));
            }
        }
        start += feed(session, &cipher[start..])?;
        if let Err(error) = session.process_new_packets() {
            // Tell the peer why (its log says it), then give up.
            let _ = send_pending(stream, session, out).await;
            return Err(tls_error(&error));
        }
    }
    send_pending(stream, session, out).await?;
    cipher.drain(..start);
    Ok(cipher)
}

/// Gives rustls what it takes of `cipher` (not empty); how many bytes it took. Taking
/// none (it saw the peer's close_notify) is an error, so no loop spins on it.
fn feed(session: &mut rustls::Connection, mut cipher: &[u8]) -> io::Result<usize> {
    let before = cipher.len();
    session.read_tls(&mut cipher)?;
    match before - cipher.len() {
        0 => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "TLS: bytes after the peer closed the session",
        )),
        taken => Ok(taken),
    }
}

/// Writes what rustls has to send; the (emptied) buffer comes back.
async fn send_pending(
    stream: &mut TcpStream,
    session: &mut rustls::Connection,
    mut out: Vec<u8>,
) -> io::Result<Vec<u8>> {
    while session.wants_write() {
        out.clear();
        session.write_tls(&mut out)?;
        let (written, buf) = stream.write_all(out).await;
        out = buf;
        written?;
    }
    Ok(out)
}

fn tls_error(error: &rustls::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("TLS: {error}"))
}

impl SocketReader {
    /// Reads what is there (at least one byte) into `buf`, emptied first, at most
    /// `max_bytes`; `Ok(0)` when the stream ended.
    pub async fn read_some(
        &mut self,
        buf: Vec<u8>,
        max_bytes: usize,
    ) -> (io::Result<usize>, Vec<u8>) {
        let mut buf = buf;
        buf.clear();
        // Grown once, when a connection is trusted with full-size frames.
        buf.reserve(max_bytes);
        let Some(tls) = &mut self.tls else {
            let (read, slice) = self.tcp.read(buf.slice_mut(0..max_bytes)).await;
            return (read, slice.into_inner());
        };
        // A record's plaintext at most: no point zeroing more.
        buf.resize(max_bytes.min(CIPHER_READ_BYTES), 0);
        let read = tls.read_plain(&mut self.tcp, &mut buf).await;
        buf.truncate(*read.as_ref().unwrap_or(&0));
        (read, buf)
    }

    /// Fills `buf[from..to]` (its length becomes `to`); the buffer comes back whatever
    /// happens.
    pub async fn read_exact(
        &mut self,
        buf: AlignedBuf,
        from: usize,
        to: usize,
    ) -> (io::Result<()>, AlignedBuf) {
        let mut buf = buf;
        let Some(tls) = &mut self.tls else {
            let (read, slice) = self.tcp.read_exact(buf.slice_mut(from..to)).await;
            let mut buf = slice.into_inner();
            if read.is_ok() {
                buf.set_len(to);
            }
            return (read.map(drop), buf);
        };
        let mut at = from;
        while at < to {
            match tls
                .read_plain(&mut self.tcp, &mut buf.spare_all()[at..to])
                .await
            {
                Ok(0) => return (Err(io::ErrorKind::UnexpectedEof.into()), buf),
                Ok(n) => at += n,
                Err(error) => return (Err(error), buf),
            }
        }
        buf.set_len(to);
        (Ok(()), buf)
    }
}

impl TlsIn {
    /// Plaintext into `dst` (at least one byte), or 0 once the stream ended.
    async fn read_plain(
        &mut self,
        tcp: &mut OwnedReadHalf<TcpStream>,
        dst: &mut [u8],
    ) -> io::Result<usize> {
        loop {
            if self.decrypt(dst)? {
                let mut session = self.session.borrow_mut();
                return match session.reader().read(dst) {
                    Ok(n) => Ok(n),
                    Err(error) if error.kind() == io::ErrorKind::WouldBlock => continue,
                    Err(error) => Err(error),
                };
            }
            let cipher = std::mem::take(&mut self.cipher);
            let (read, buf) = tcp.read(cipher.slice_mut(0..CIPHER_READ_BYTES)).await;
            self.cipher = buf.into_inner();
            self.start = 0;
            if read? == 0 {
                // No close_notify: the peer (or someone on the path) cut the stream.
                return Ok(0);
            }
        }
    }

    /// Moves ciphertext at hand into rustls until plaintext is ready (true) or more
    /// ciphertext is needed from the socket (false, `cipher` emptied).
    fn decrypt(&mut self, dst: &[u8]) -> io::Result<bool> {
        let mut session = self.session.borrow_mut();
        loop {
            let state = session.process_new_packets().map_err(|e| tls_error(&e))?;
            if state.plaintext_bytes_to_read() > 0 || state.peer_has_closed() || dst.is_empty() {
                return Ok(true);
            }
            if self.start == self.cipher.len() {
                self.cipher.clear();
                return Ok(false);
            }
            self.start += feed(&mut session, &self.cipher[self.start..])?;
        }
    }
}

impl SocketWriter {
    /// Writes all of `bytes`.
    pub async fn write_all(&mut self, bytes: Vec<u8>) -> (io::Result<()>, Vec<u8>) {
        let Some(tls) = &mut self.tls else {
            let (written, bytes) = self.tcp.write_all(bytes).await;
            return (written.map(drop), bytes);
        };
        let written = tls.write_plain(&mut self.tcp, &bytes).await;
        (written, bytes)
    }

    /// Writes all of `buf`'s bytes; the buffer comes back whatever happens.
    pub async fn write_all_aligned(&mut self, buf: AlignedBuf) -> (io::Result<()>, AlignedBuf) {
        let Some(tls) = &mut self.tls else {
            let (written, buf) = self.tcp.write_all(buf).await;
            return (written.map(drop), buf);
        };
        let written = tls.write_plain(&mut self.tcp, buf.as_slice()).await;
        (written, buf)
    }

    pub async fn flush(&mut self) -> io::Result<()> {
        self.tcp.flush().await
    }
}

impl TlsOut {
    async fn write_plain(
        &mut self,
        tcp: &mut OwnedWriteHalf<TcpStream>,
        mut bytes: &[u8],
    ) -> io::Result<()> {
        while !bytes.is_empty() {
            // rustls takes what fits its bounded output buffer; the rest after a flush.
            let taken = self.session.borrow_mut().writer().write(bytes)?;
            bytes = &bytes[taken..];
            self.flush(tcp).await?;
        }
        Ok(())
    }

    /// Sends every record rustls holds (also what the read half queued: key updates).
    async fn flush(&mut self, tcp: &mut OwnedWriteHalf<TcpStream>) -> io::Result<()> {
        loop {
            let mut out = std::mem::take(&mut self.out);
            out.clear();
            {
                let mut session = self.session.borrow_mut();
                while session.wants_write() {
                    session.write_tls(&mut out)?;
                }
            }
            if out.is_empty() {
                self.out = out;
                return Ok(());
            }
            let (written, out) = tcp.write_all(out).await;
            self.out = out;
            written?;
        }
    }
}
