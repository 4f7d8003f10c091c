//! Peer connections over TLS on loopback, with certificates `openssl` makes: calls
//! with payloads both ways, nodes that share a CA, and the refusals (plain against
//! TLS either way, a certificate of another CA).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use shoal_io::AlignedBuf;

use crate::front::peer::channel::{CallError, ChannelConfig, PeerChannel};
use crate::front::peer::permits::Permits;
use crate::front::peer::serve::ServeConfig;
use crate::front::peer::tests::{DEPLOYMENT, listen, op, secret, serve_node_with};
use crate::front::tls::{PeerTls, load_peer_client_config, load_server_config};

fn openssl(args: &[&str], dir: &Path) {
    let status = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("the TLS tests need the openssl command (Debian: openssl)");
    assert!(status.success(), "openssl {args:?} failed");
}

const EC: [&str; 4] = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"];

/// `dir/public.crt` and `dir/private.key`: self-signed, not a CA, for 127.0.0.1.
fn self_signed(dir: &Path) {
    std::fs::create_dir_all(dir).expect("certs dir");
    let mut args = vec!["req", "-x509", "-nodes", "-days", "2", "-subj", "/CN=node"];
    args.extend(EC);
    args.extend([
        "-addext",
        "subjectAltName=IP:127.0.0.1",
        "-addext",
        "basicConstraints=critical,CA:FALSE",
        "-keyout",
        "private.key",
        "-out",
        "public.crt",
    ]);
    openssl(&args, dir);
}

/// A CA in `dir` (`ca.crt`, `ca.key`).
fn make_ca(dir: &Path) {
    std::fs::create_dir_all(dir).expect("ca dir");
    let mut args = vec![
        "req",
        "-x509",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=cluster CA",
    ];
    args.extend(EC);
    args.extend([
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
    ]);
    openssl(&args, dir);
}

/// A node's certs dir: its own key and a certificate for 127.0.0.1 signed by the CA
/// in `ca`, with that CA in `CAs/` (MinIO's layout).
fn signed_by(ca: &Path, dir: &Path) {
    std::fs::create_dir_all(dir.join("CAs")).expect("certs dir");
    std::fs::copy(ca.join("ca.crt"), dir.join("CAs/ca.crt")).expect("CA");
    let mut args = vec!["req", "-new", "-nodes", "-subj", "/CN=node"];
    args.extend(EC);
    args.extend(["-keyout", "private.key", "-out", "node.csr"]);
    openssl(&args, dir);
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=critical,CA:FALSE\n\
         keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n",
    )
    .expect("extensions");
    let ca_crt = ca.join("ca.crt");
    let ca_key = ca.join("ca.key");
    let (ca_crt, ca_key) = (
        ca_crt.to_str().expect("path"),
        ca_key.to_str().expect("path"),
    );
    openssl(
        &[
            "x509",
            "-req",
            "-in",
            "node.csr",
            "-CA",
            ca_crt,
            "-CAkey",
            ca_key,
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "ext.cnf",
            "-out",
            "public.crt",
        ],
        dir,
    );
}

fn tls_serve_config(certs: &Path) -> ServeConfig {
    let mut config = ServeConfig::new(DEPLOYMENT, secret());
    config.tls = Some(load_server_config(certs).expect("server TLS"));
    config
}

fn tls_channel(address: std::net::SocketAddr, certs: &Path) -> PeerChannel {
    let mut config = ChannelConfig::new(address, 0, DEPLOYMENT, secret());
    let client = load_peer_client_config(certs).expect("client TLS");
    config.tls = Some(PeerTls::new(client, "127.0.0.1").expect("name"));
    PeerChannel::new(config)
}

/// Over TLS with one certificate shared by both nodes, many calls at once get their
/// own answers, and payloads cross both ways intact (1 MiB out, 3 MiB back: many
/// records each).
#[test]
fn calls_over_tls_get_their_answers() {
    let certs = tempfile::tempdir().expect("tmp");
    self_signed(certs.path());
    crate::front::peer::test_runtime().block_on(async {
        let (listener, address) = listen();
        serve_node_with(listener, tls_serve_config(certs.path()), Permits::new(8));
        let peer = tls_channel(address, certs.path());
        let deadline = Duration::from_secs(5);
        let calls = (0..16u32).map(|i| {
            let peer = peer.clone();
            async move {
                let (answer, _) = peer.call(op(0, i), None, deadline).await;
                assert_eq!(answer.expect("echo"), op(0, i));
            }
        });
        futures_util::future::join_all(calls).await;
        let mut out = AlignedBuf::with_capacity(1 << 20);
        let bytes: Vec<u8> = (0..1usize << 20).map(|i| (i % 249) as u8).collect();
        out.extend_from_slice(&bytes);
        let (answer, back) = peer.call(op(0, 0), Some(out), deadline).await;
        assert_eq!(answer.expect("echo"), op(0, 0));
        assert_eq!(back.expect("buffer back").capacity(), 1 << 20);
        let n = 3 << 20;
        let buf = AlignedBuf::with_capacity(n as usize);
        let (answer, got) = peer.call(op(1, n), Some(buf), deadline).await;
        answer.expect("fill");
        let got = got.expect("payload");
        assert_eq!(got.len(), n as usize);
        let expected = (0..n as usize).map(|i| (i % 253) as u8);
        assert!(got.as_slice().iter().copied().eq(expected));
        assert!(peer.is_up());
    });
}

/// Nodes with certificates of their own, signed by one CA in their `CAs/`, trust each
/// other.
#[test]
fn nodes_sharing_a_ca_trust_each_other() {
    let root = tempfile::tempdir().expect("tmp");
    let (ca, dialer, listener_certs) = (
        root.path().join("ca"),
        root.path().join("a"),
        root.path().join("b"),
    );
    make_ca(&ca);
    signed_by(&ca, &dialer);
    signed_by(&ca, &listener_certs);
    crate::front::peer::test_runtime().block_on(async {
        let (listener, address) = listen();
        serve_node_with(listener, tls_serve_config(&listener_certs), Permits::new(8));
        let peer = tls_channel(address, &dialer);
        let (answer, _) = peer.call(op(0, 7), None, Duration::from_secs(5)).await;
        assert_eq!(answer.expect("trusted through the CA"), op(0, 7));
    });
}

/// A plain dialer and a TLS listener refuse each other, and so do a TLS dialer and a
/// plain listener: calls fail as unreachable, nothing is served, and the listeners
/// go on serving dialers of their own kind.
#[test]
fn plain_and_tls_refuse_each_other() {
    let certs = tempfile::tempdir().expect("tmp");
    self_signed(certs.path());
    crate::front::peer::test_runtime().block_on(async {
        let deadline = Duration::from_secs(5);
        let (tls_listener, tls_address) = listen();
        let tls_seen = serve_node_with(
            tls_listener,
            tls_serve_config(certs.path()),
            Permits::new(8),
        );
        let (plain_listener, plain_address) = listen();
        let plain_config = ServeConfig::new(DEPLOYMENT, secret());
        let plain_seen = serve_node_with(plain_listener, plain_config, Permits::new(8));
        let plain_dialer =
            PeerChannel::new(ChannelConfig::new(tls_address, 0, DEPLOYMENT, secret()));
        let (answer, _) = plain_dialer.call(op(0, 1), None, deadline).await;
        assert!(
            matches!(answer, Err(CallError::Unreachable(_))),
            "{answer:?}"
        );
        let tls_dialer = tls_channel(plain_address, certs.path());
        let (answer, _) = tls_dialer.call(op(0, 1), None, deadline).await;
        assert!(
            matches!(answer, Err(CallError::Unreachable(_))),
            "{answer:?}"
        );
        assert_eq!(tls_seen.started.get() + plain_seen.started.get(), 0);
        let (answer, _) = tls_channel(tls_address, certs.path())
            .call(op(0, 2), None, deadline)
            .await;
        assert_eq!(answer.expect("TLS to TLS"), op(0, 2));
        let plain = PeerChannel::new(ChannelConfig::new(plain_address, 0, DEPLOYMENT, secret()));
        let (answer, _) = plain.call(op(0, 3), None, deadline).await;
        assert_eq!(answer.expect("plain to plain"), op(0, 3));
    });
}

/// A listener whose certificate no CA of the dialer signed (another cluster's, or an
/// impostor's) is refused before the cluster handshake: the call fails as
/// unreachable and says why.
#[test]
fn a_certificate_of_another_ca_is_refused() {
    let root = tempfile::tempdir().expect("tmp");
    let (ours, theirs) = (root.path().join("ours"), root.path().join("theirs"));
    self_signed(&ours);
    let ca = root.path().join("ca");
    make_ca(&ca);
    signed_by(&ca, &theirs);
    crate::front::peer::test_runtime().block_on(async {
        let (listener, address) = listen();
        let seen = serve_node_with(listener, tls_serve_config(&theirs), Permits::new(8));
        let peer = tls_channel(address, &ours);
        let (answer, _) = peer.call(op(0, 1), None, Duration::from_secs(5)).await;
        let Err(CallError::Unreachable(why)) = answer else {
            panic!("refused: {answer:?}");
        };
        assert!(why.contains("certificate"), "{why}");
        assert_eq!(seen.started.get(), 0);
    });
}
