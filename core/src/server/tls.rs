//! TLS (rustls with the `ring` provider, chosen explicitly so that no process-wide default is needed):
//! the acceptor built from [`TlsConfig`]'s PEM files. ALPN offers `http/1.1`.

use super::config::TlsConfig;
use crate::error::{Error, Result};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::sync::Arc;
use tokio_rustls::rustls;
use tokio_rustls::TlsAcceptor;

fn bad(what: &str, path: &std::path::Path, e: impl std::fmt::Display) -> Error {
    Error::invalid(format!("tls {what} {}: {e}", path.display()))
}

/// Reads the certificate chain and key and builds the acceptor; `invalid_input` on a missing or bad
/// file or a key that does not match.
pub(crate) fn acceptor(cfg: &TlsConfig) -> Result<TlsAcceptor> {
    let certs = CertificateDer::pem_file_iter(&cfg.cert_pem_path)
        .map_err(|e| bad("certificate", &cfg.cert_pem_path, e))?
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| bad("certificate", &cfg.cert_pem_path, e))?;
    if certs.is_empty() {
        return Err(bad(
            "certificate",
            &cfg.cert_pem_path,
            "no CERTIFICATE block",
        ));
    }
    let key = PrivateKeyDer::from_pem_file(&cfg.key_pem_path)
        .map_err(|e| bad("key", &cfg.key_pem_path, e))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::invalid(format!("tls: {e}")))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| Error::invalid(format!("tls: {e}")))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}
