//! TLS from `--certs-dir` (MinIO's layout): `public.crt` (certificate chain) and
//! `private.key` (PKCS#8, PKCS#1 or SEC1, PEM) make the rustls server configuration
//! every shard's acceptor shares, for S3 clients and peers alike; `CAs/` (PEM files)
//! with this node's own certificate make the client configuration of the connections
//! this node opens to its peers (`PeerTls`).

use std::path::Path;
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{WebPkiSupportedAlgorithms, verify_tls12_signature, verify_tls13_signature};
use rustls::server::ParsedCertificate;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};

/// The TLS configuration for `certs_dir`, with a clear message when files are missing
/// or unreadable.
pub fn load_server_config(certs_dir: &Path) -> Result<Arc<ServerConfig>, String> {
    let cert_path = certs_dir.join("public.crt");
    let key_path = certs_dir.join("private.key");
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&cert_path)
        .map_err(|e| format!("{}: {e}", cert_path.display()))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{}: {e}", cert_path.display()))?;
    if certs.is_empty() {
        return Err(format!("{}: no certificate found", cert_path.display()));
    }
    let key = PrivateKeyDer::from_pem_file(&key_path)
        .map_err(|e| format!("{}: {e}", key_path.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| format!("TLS certificate and key do not match or are unsupported: {e}"))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// TLS for the connections this node opens to its peers: a client configuration and
/// the name the peer's certificate must carry (its host in the drive list).
#[derive(Clone)]
pub struct PeerTls {
    pub config: Arc<ClientConfig>,
    pub server_name: ServerName<'static>,
}

impl PeerTls {
    /// Peer TLS towards `host` (a DNS name or an IP address, as the endpoint names it).
    pub fn new(config: Arc<ClientConfig>, host: &str) -> Result<Self, String> {
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let server_name = ServerName::try_from(bare.to_owned())
            .map_err(|e| format!("{host}: not a server name for TLS: {e}"))?;
        Ok(Self {
            config,
            server_name,
        })
    }
}

impl std::fmt::Debug for PeerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PeerTls({:?})", self.server_name)
    }
}

/// The client configuration for peer connections from `certs_dir`: a peer is trusted
/// when its certificate chains to a CA of `CAs/` (every PEM file there) or of this
/// node's own `public.crt` chain, or is this node's very certificate (nodes that share
/// one self-signed certificate); its name must match either way. No client
/// certificate: the handshake's HMAC proves a dialer belongs to the cluster.
pub fn load_peer_client_config(certs_dir: &Path) -> Result<Arc<ClientConfig>, String> {
    let own_path = certs_dir.join("public.crt");
    let own = read_certs(&own_path)?;
    let Some(own_leaf) = own.first().cloned() else {
        return Err(format!("{}: no certificate found", own_path.display()));
    };
    let mut roots = RootCertStore::empty();
    for cert in own
        .iter()
        .skip(1)
        .chain(&read_ca_dir(&certs_dir.join("CAs"))?)
    {
        roots
            .add(cert.clone())
            .map_err(|e| format!("{}: a CA certificate: {e}", certs_dir.display()))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let webpki = if roots.is_empty() {
        None
    } else {
        let built = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
            .build()
            .map_err(|e| format!("{}: CAs: {e}", certs_dir.display()))?;
        Some(built)
    };
    let verifier = Arc::new(PeerVerifier {
        webpki,
        own_leaf,
        schemes: provider.signature_verification_algorithms,
    });
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("{}: {e}", path.display()))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// Every certificate of every file in `dir` (none when it does not exist), in name
/// order.
fn read_ca_dir(dir: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(format!("{}: {e}", dir.display())),
    };
    let mut paths: Vec<_> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.is_file())
        .collect();
    paths.sort();
    let mut certs = Vec::new();
    for path in paths {
        certs.extend(read_certs(&path)?);
    }
    Ok(certs)
}

/// Path validation against the cluster's CAs, or this node's own certificate.
#[derive(Debug)]
struct PeerVerifier {
    webpki: Option<Arc<WebPkiServerVerifier>>,
    own_leaf: CertificateDer<'static>,
    schemes: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for PeerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if end_entity.as_ref() == self.own_leaf.as_ref() {
            // The certificate this node itself serves: only its name is left to check
            // (a self-signed one may be marked CA, which path validation refuses).
            let parsed = ParsedCertificate::try_from(end_entity)?;
            rustls::client::verify_server_name(&parsed, server_name)?;
            return Ok(ServerCertVerified::assertion());
        }
        match &self.webpki {
            Some(webpki) => webpki.verify_server_cert(
                end_entity,
                intermediates,
                server_name,
                ocsp_response,
                now,
            ),
            None => Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::UnknownIssuer,
            )),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.schemes)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.schemes)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.schemes.supported_schemes()
    }
}
