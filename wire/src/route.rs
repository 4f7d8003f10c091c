//! The route preamble: the first bytes a peer node sends on a new connection, in the
//! clear, before TLS and before the authenticated handshake. It says which shard (CPU
//! core) of the receiving node must serve the connection, so the shard that happened
//! to accept it (SO_REUSEPORT) can hand the socket over without reading anything else.
//!
//! It carries nothing secret and grants nothing: the receiving shard still runs the
//! handshake (and TLS when configured) before it serves a single verb. Its first byte
//! is never the first byte of an S3 connection (an HTTP method is ASCII letters, a TLS
//! ClientHello starts with 0x16), so one peeked byte tells the two apart.
//!
//! ```text
//! offset  size  field
//!      0     4  magic: F5 'S' 'H' 'P'
//!      4     2  protocol version (little endian): ROUTE_VERSION
//!      6     2  target shard on the receiving node (little endian)
//!      8     1  flags: bit 0 = TLS follows; other bits zero
//!      9     7  reserved, zero
//! ```

/// Size of the preamble in bytes.
pub const ROUTE_LEN_BYTES: usize = 16;
/// The preamble's magic; its first byte alone marks a peer connection.
pub const ROUTE_MAGIC: [u8; 4] = [0xF5, b'S', b'H', b'P'];
/// The preamble's version; a node refuses another.
pub const ROUTE_VERSION: u16 = 1;
/// Flag: the dialer starts TLS right after the preamble.
const FLAG_TLS: u8 = 1;

/// Where a peer connection must go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    /// The receiving node's shard that serves the connection.
    pub target_shard: u16,
    /// TLS starts right after the preamble.
    pub tls: bool,
}

/// Why a preamble was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteError {
    /// Not a peer's preamble at all.
    BadMagic,
    /// A peer speaking another version of the protocol.
    Version(u16),
    /// Flags or reserved bytes that this version does not know.
    Reserved,
}

impl std::fmt::Display for RouteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RouteError::BadMagic => write!(f, "not a peer connection (bad magic)"),
            RouteError::Version(version) => write!(
                f,
                "peer speaks route version {version}, this node {ROUTE_VERSION}"
            ),
            RouteError::Reserved => write!(f, "unknown flags or reserved bytes set"),
        }
    }
}

impl std::error::Error for RouteError {}

impl Route {
    /// Whether a connection's first byte starts a peer's preamble.
    pub fn starts_with(first_byte: u8) -> bool {
        first_byte == ROUTE_MAGIC[0]
    }

    /// The preamble's bytes.
    pub fn encode(self) -> [u8; ROUTE_LEN_BYTES] {
        let mut bytes = [0u8; ROUTE_LEN_BYTES];
        bytes[0..4].copy_from_slice(&ROUTE_MAGIC);
        bytes[4..6].copy_from_slice(&ROUTE_VERSION.to_le_bytes());
        bytes[6..8].copy_from_slice(&self.target_shard.to_le_bytes());
        bytes[8] = if self.tls { FLAG_TLS } else { 0 };
        bytes
    }

    /// Reads a preamble; anything but exactly what `encode` writes is refused.
    pub fn decode(bytes: &[u8; ROUTE_LEN_BYTES]) -> Result<Self, RouteError> {
        if bytes[0..4] != ROUTE_MAGIC {
            return Err(RouteError::BadMagic);
        }
        let version = u16::from_le_bytes([bytes[4], bytes[5]]);
        if version != ROUTE_VERSION {
            return Err(RouteError::Version(version));
        }
        let flags = bytes[8];
        if flags & !FLAG_TLS != 0 || bytes[9..].iter().any(|&b| b != 0) {
            return Err(RouteError::Reserved);
        }
        Ok(Route {
            target_shard: u16::from_le_bytes([bytes[6], bytes[7]]),
            tls: flags & FLAG_TLS != 0,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every route survives its own encoding.
    #[test]
    fn round_trip() {
        for target_shard in [0, 1, 7, u16::MAX] {
            for tls in [false, true] {
                let route = Route { target_shard, tls };
                assert_eq!(Route::decode(&route.encode()), Ok(route));
            }
        }
    }

    /// The frozen bytes of one preamble (the wire between versions).
    #[test]
    fn golden_bytes() {
        let bytes = Route {
            target_shard: 3,
            tls: true,
        }
        .encode();
        assert_eq!(
            bytes,
            [0xF5, b'S', b'H', b'P', 1, 0, 3, 0, 1, 0, 0, 0, 0, 0, 0, 0]
        );
    }

    /// A wrong magic, version, flag or reserved byte is refused, each with its reason.
    #[test]
    fn refusals() {
        let good = Route {
            target_shard: 1,
            tls: false,
        }
        .encode();
        let mut bad = good;
        bad[1] = b'X';
        assert_eq!(Route::decode(&bad), Err(RouteError::BadMagic));
        let mut bad = good;
        bad[4] = 2;
        assert_eq!(Route::decode(&bad), Err(RouteError::Version(2)));
        let mut bad = good;
        bad[8] = 2;
        assert_eq!(Route::decode(&bad), Err(RouteError::Reserved));
        let mut bad = good;
        bad[15] = 1;
        assert_eq!(Route::decode(&bad), Err(RouteError::Reserved));
    }

    /// No S3 connection's first byte looks like a preamble: HTTP methods and TLS.
    #[test]
    fn s3_connections_are_not_peers() {
        for first in b"GPHDOC".iter().chain(&[0x16]) {
            assert!(!Route::starts_with(*first));
        }
        assert!(Route::starts_with(ROUTE_MAGIC[0]));
    }
}
