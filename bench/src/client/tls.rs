//! `--tls` and `--insecure`: the rustls client configuration of a run, built once and
//! shared (read-only, `Arc`) by every client shard's connections.
//!
//! Trusted roots, as Go's (and so warp's) system pool finds them: the PEM bundle named
//! by `SSL_CERT_FILE`, else the PEM files in `SSL_CERT_DIR`, else the first bundle that
//! exists at the usual distribution paths. `--insecure` skips certificate verification
//! (chain, name, expiry) as warp's flag does, but still checks the handshake signatures,
//! so the session keys are those of whoever holds the certificate's key.
//!
//! Crypto provider: `ring`, the one the server builds (no cmake, no C toolchain beyond
//! what the workspace already needs). ALPN offers only `http/1.1`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

/// Where distributions keep their CA bundle (Debian/Ubuntu, Fedora/RHEL, openSUSE,
/// Alpine, and the OpenSSL default).
const BUNDLE_PATHS: [&str; 5] = [
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/ssl/cert.pem",
    "/usr/local/ssl/cert.pem",
];

/// The client configuration: verifying against the system roots, or not at all.
pub fn client_config(insecure: bool) -> Result<Arc<ClientConfig>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?;
    let mut config = if insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoCertificateVerification { provider }))
            .with_no_client_auth()
    } else {
        builder
            .with_root_certificates(system_roots()?)
            .with_no_client_auth()
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The server name to present (SNI) and verify for `host:port`.
pub fn server_name(host: &str) -> Result<ServerName<'static>, String> {
    let name = match host.rsplit_once(':') {
        Some((name, port)) if port.parse::<u16>().is_ok() => name,
        _ => host,
    };
    let name = name.trim_start_matches('[').trim_end_matches(']');
    ServerName::try_from(name.to_owned()).map_err(|e| format!("{host}: not a TLS server name: {e}"))
}

fn system_roots() -> Result<RootCertStore, String> {
    let files = root_files()?;
    let mut roots = RootCertStore::empty();
    for file in &files {
        let certs =
            CertificateDer::pem_file_iter(file).map_err(|e| format!("{}: {e}", file.display()))?;
        // A bundle may hold certificates rustls cannot use; skip those, as Go does.
        let certs: Vec<_> = certs.filter_map(Result::ok).collect();
        roots.add_parsable_certificates(certs);
    }
    if roots.is_empty() {
        return Err(format!(
            "--tls: no usable CA certificate in {} (set SSL_CERT_FILE, or use --insecure)",
            files
                .iter()
                .map(|f| f.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    Ok(roots)
}

/// The PEM files to trust (see the file header).
fn root_files() -> Result<Vec<PathBuf>, String> {
    if let Some(file) = std::env::var_os("SSL_CERT_FILE") {
        return Ok(vec![PathBuf::from(file)]);
    }
    if let Some(dir) = std::env::var_os("SSL_CERT_DIR") {
        let entries = std::fs::read_dir(&dir)
            .map_err(|e| format!("SSL_CERT_DIR {}: {e}", Path::new(&dir).display()))?;
        let mut files: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|entry| entry.path())
            .filter(|path| path.is_file())
            .collect();
        files.sort();
        return Ok(files);
    }
    BUNDLE_PATHS
        .iter()
        .map(PathBuf::from)
        .find(|path| path.exists())
        .map(|path| vec![path])
        .ok_or_else(|| {
            "--tls: no CA bundle found (set SSL_CERT_FILE, or use --insecure)".to_owned()
        })
}

/// `--insecure`: any certificate is accepted; handshake signatures are still checked.
#[derive(Debug)]
struct NoCertificateVerification {
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for NoCertificateVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Names and addresses become server names; the port is not part of them.
    #[test]
    fn server_names_drop_the_port() {
        assert_eq!(
            server_name("localhost:9000").unwrap(),
            ServerName::try_from("localhost").unwrap()
        );
        assert!(matches!(
            server_name("127.0.0.1:9000").unwrap(),
            ServerName::IpAddress(_)
        ));
        assert!(matches!(
            server_name("[::1]:9000").unwrap(),
            ServerName::IpAddress(_)
        ));
        assert!(server_name("bad name:1").is_err());
    }

    /// Both configurations build, and offer HTTP/1.1.
    #[test]
    fn configurations_build() {
        let insecure = client_config(true).unwrap();
        assert_eq!(insecure.alpn_protocols, vec![b"http/1.1".to_vec()]);
    }
}
