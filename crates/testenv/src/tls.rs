//! HTTPS for the loopback servers tests start (the Git server, alert sinks): a certificate
//! for 127.0.0.1 and localhost signed by a throwaway CA the test hands to the client under
//! test.

use std::net::SocketAddr;
use std::sync::Arc;

use crate::{Error, Result};

pub(crate) fn acceptor(pki: &crate::certs::Pki) -> Result<tokio_rustls::TlsAcceptor> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let invalid = |e: String| Error::Io(format!("test TLS: {e}"), std::io::Error::other("tls"));
    let chain = CertificateDer::pem_slice_iter(pki.serving.cert_pem.as_bytes())
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| invalid(e.to_string()))?;
    let key = PrivateKeyDer::from_pem_slice(pki.serving.key_pem.as_bytes())
        .map_err(|e| invalid(e.to_string()))?;
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| invalid(e.to_string()))?
    .with_no_client_auth()
    .with_single_cert(chain, key)
    .map_err(|e| invalid(e.to_string()))?;
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

/// TCP connections completed to TLS before axum sees them; failed handshakes (a client that
/// does not trust the CA) are dropped.
pub(crate) struct TlsListener {
    pub(crate) listener: tokio::net::TcpListener,
    pub(crate) acceptor: tokio_rustls::TlsAcceptor,
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((stream, addr)) = self.listener.accept().await else {
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            };
            if let Ok(tls) = self.acceptor.accept(stream).await {
                return (tls, addr);
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.listener.local_addr()
    }
}

/// Serves `router` over HTTPS on a free loopback port, on the calling runtime, until that
/// runtime ends. Returns the `https://127.0.0.1:<port>` address and the CA's PEM.
pub async fn serve_https(router: axum::Router) -> Result<(String, String)> {
    let pki = crate::certs::Pki::generate()?;
    let acceptor = acceptor(&pki)?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| Error::Io("binding the HTTPS server".into(), e))?;
    let addr = listener
        .local_addr()
        .map_err(|e| Error::Io("HTTPS server address".into(), e))?;
    tokio::spawn(async move {
        let _ = axum::serve(TlsListener { listener, acceptor }, router).await;
    });
    Ok((format!("https://{addr}"), pki.serving_ca_pem))
}
