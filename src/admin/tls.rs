//! HTTPS for `shoal admin`: a rustls client (the `ring` provider the server uses)
//! trusting the CA certificates of one PEM bundle: `--ca-bundle`, else AWS_CA_BUNDLE,
//! else SSL_CERT_FILE, else the distribution's bundle. The server's name (or IP
//! address) must match its certificate. A self-signed server certificate (which
//! `openssl req -x509` marks as a CA, so path validation refuses it as a server's) is
//! trusted when the bundle holds that exact certificate, as curl and the AWS CLI do.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::{DigitallySignedStruct, SignatureScheme};

/// Where a distribution keeps its CA bundle (Debian, Fedora).
const SYSTEM_BUNDLES: [&str; 2] = [
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
];

/// The CA bundle to trust: the flag, the environment, or the system's.
pub fn bundle_path(flag: Option<&Path>) -> Result<PathBuf, String> {
    let from_env = ["AWS_CA_BUNDLE", "SSL_CERT_FILE"]
        .iter()
        .find_map(|name| std::env::var_os(name).filter(|v| !v.is_empty()));
    flag.map(Path::to_path_buf)
        .or_else(|| from_env.map(PathBuf::from))
        .or_else(|| {
            SYSTEM_BUNDLES
                .iter()
                .map(PathBuf::from)
                .find(|path| path.is_file())
        })
        .ok_or_else(|| "no CA bundle: give --ca-bundle FILE or set AWS_CA_BUNDLE".to_owned())
}

/// A TLS stream to `host` over `tcp`, verified against the CAs in `bundle`.
pub fn connect(
    tcp: TcpStream,
    host: &str,
    bundle: &Path,
) -> Result<rustls::StreamOwned<rustls::ClientConnection, TcpStream>, String> {
    let shown = |e: &dyn std::fmt::Display| format!("CA bundle {}: {e}", bundle.display());
    let mut roots = rustls::RootCertStore::empty();
    let mut pinned = Vec::new();
    for cert in CertificateDer::pem_file_iter(bundle).map_err(|e| shown(&e))? {
        let cert = cert.map_err(|e| shown(&e))?;
        roots.add(cert.clone()).map_err(|e| shown(&e))?;
        pinned.push(cert);
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| shown(&e))?;
    let verifier = Arc::new(BundleVerifier { webpki, pinned });
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    let name = ServerName::try_from(
        host.trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned(),
    )
    .map_err(|e| format!("{host}: not a server name for TLS: {e}"))?;
    let connection =
        rustls::ClientConnection::new(Arc::new(config), name).map_err(|e| format!("TLS: {e}"))?;
    Ok(rustls::StreamOwned::new(connection, tcp))
}

/// Path validation against the bundle, or the server's exact certificate in it.
#[derive(Debug)]
struct BundleVerifier {
    webpki: Arc<WebPkiServerVerifier>,
    pinned: Vec<CertificateDer<'static>>,
}

impl ServerCertVerifier for BundleVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if self
            .pinned
            .iter()
            .any(|cert| cert.as_ref() == end_entity.as_ref())
        {
            // The very certificate the operator trusts: only its name is left to check.
            let parsed = ParsedCertificate::try_from(end_entity)?;
            rustls::client::verify_server_name(&parsed, server_name)?;
            return Ok(ServerCertVerified::assertion());
        }
        self.webpki
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.webpki.supported_verify_schemes()
    }
}
