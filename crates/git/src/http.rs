//! Smart HTTP for gix over one shared async `reqwest` client.
//!
//! gix's own reqwest backend starts a worker thread and a blocking client (with a runtime and
//! a thread of its own) for every connection. With many sources fetched at once those threads,
//! their runtimes and fresh TLS sessions were most of the controller's memory. Here every
//! fetch borrows the process's connection pool instead; requests run on the controller's
//! runtime while the fetch waits on its blocking thread.

use std::io::{self, BufRead, Read, Write};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use gix::protocol::transport::client::AuthenticationRequired;
use gix::protocol::transport::client::blocking_io::http::{
    GetResponse, Http, PostBodyDataKind, PostResponse,
};
use tokio::runtime::Handle;

/// Clients by TLS configuration: the default one is shared by every fetch; a Secret with its
/// own CA or client certificate gets a client of its own.
pub fn client_for(tls: Option<&Arc<rustls::ClientConfig>>) -> Result<reqwest::Client, String> {
    static DEFAULT: OnceLock<Result<reqwest::Client, String>> = OnceLock::new();
    let build = |config: rustls::ClientConfig| {
        reqwest::Client::builder()
            .tls_backend_preconfigured(config)
            .connect_timeout(Duration::from_secs(30))
            .pool_idle_timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(8)
            // gix swaps base URLs on redirects itself; with credentials configured its own
            // backend refuses them too. A redirect is reported, never followed blindly.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("driftless/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("building the HTTP client: {e}"))
    };
    match tls {
        Some(config) => build((**config).clone()),
        None => DEFAULT
            .get_or_init(|| {
                let config = super::auth::default_tls_config().map_err(|e| e.to_string())?;
                build((*config).clone())
            })
            .clone(),
    }
}

/// One fetch's HTTP side: the shared client, its credentials and timeout.
pub struct SharedHttp {
    client: reqwest::Client,
    runtime: Handle,
    authorization: Option<String>,
    timeout: Duration,
}

impl SharedHttp {
    pub fn new(
        client: reqwest::Client,
        runtime: Handle,
        authorization: Option<String>,
        timeout: Duration,
    ) -> Self {
        Self {
            client,
            runtime,
            authorization,
            timeout,
        }
    }

    fn exchange(
        &self,
        method: reqwest::Method,
        url: &str,
        headers: impl IntoIterator<Item = impl AsRef<str>>,
        with_body: bool,
    ) -> gix::Result<Exchange> {
        let mut request = self.client.request(method, url).timeout(self.timeout);
        for header in headers {
            let header = header.as_ref();
            let Some((name, value)) = header.split_once(':') else {
                continue;
            };
            // Ours replaces gix's own agent string.
            if name.trim().eq_ignore_ascii_case("user-agent") {
                continue;
            }
            request = request.header(name.trim(), value.trim());
        }
        if let Some(authorization) = &self.authorization {
            request = request.header(reqwest::header::AUTHORIZATION, authorization.as_str());
        }
        Ok(Exchange(Arc::new(Mutex::new(State::Pending {
            request: Some(request),
            body: with_body.then(Vec::new),
            runtime: self.runtime.clone(),
        }))))
    }
}

impl Http for SharedHttp {
    type Headers = ResponseReader;
    type ResponseBody = ResponseReader;
    type PostBody = PostWriter;

    fn get(
        &mut self,
        url: &str,
        _base_url: &str,
        headers: impl IntoIterator<Item = impl AsRef<str>>,
    ) -> gix::Result<GetResponse<Self::Headers, Self::ResponseBody>> {
        let exchange = self.exchange(reqwest::Method::GET, url, headers, false)?;
        Ok(GetResponse {
            headers: ResponseReader::headers(exchange.clone()),
            body: ResponseReader::body(exchange),
        })
    }

    fn post(
        &mut self,
        url: &str,
        _base_url: &str,
        headers: impl IntoIterator<Item = impl AsRef<str>>,
        _body: PostBodyDataKind,
    ) -> gix::Result<PostResponse<Self::Headers, Self::ResponseBody, Self::PostBody>> {
        let exchange = self.exchange(reqwest::Method::POST, url, headers, true)?;
        Ok(PostResponse {
            post_body: PostWriter(exchange.clone()),
            headers: ResponseReader::headers(exchange.clone()),
            body: ResponseReader::body(exchange),
        })
    }

    fn configure(&mut self, _config: &dyn std::any::Any) -> gix::Result {
        Ok(())
    }
}

/// One request and its response, shared by the body writer and the two readers. The request
/// goes out when a reader first needs the response (after the POST body was written).
#[derive(Clone)]
pub struct Exchange(Arc<Mutex<State>>);

enum State {
    Pending {
        request: Option<reqwest::RequestBuilder>,
        body: Option<Vec<u8>>,
        runtime: Handle,
    },
    Streaming {
        response: reqwest::Response,
        runtime: Handle,
    },
    Finished,
    Failed(io::ErrorKind, String, Vec<Vec<u8>>),
}

fn poisoned() -> io::Error {
    io::Error::other("HTTP exchange lock poisoned")
}

impl Exchange {
    /// Sends the request if not done yet; returns the response headers as `name:value` lines.
    fn start(&self) -> io::Result<Vec<u8>> {
        let mut state = self.0.lock().map_err(|_| poisoned())?;
        if let State::Pending {
            request,
            body,
            runtime,
        } = &mut *state
        {
            let runtime = runtime.clone();
            let mut builder = request
                .take()
                .ok_or_else(|| io::Error::other("request already sent"))?;
            if let Some(body) = body.take() {
                builder = builder.body(body);
            }
            // Built inside the runtime: reqwest arms its timeout timer when the future is created,
            // and the caller's thread need not be a runtime thread.
            *state = match runtime.block_on(async move { builder.send().await }) {
                Err(error) => {
                    let kind = if error.is_timeout() {
                        io::ErrorKind::TimedOut
                    } else {
                        io::ErrorKind::ConnectionAborted
                    };
                    State::Failed(kind, crate::error_chain(&error), Vec::new())
                }
                Ok(response) => match response.status().as_u16() {
                    200..=299 => State::Streaming { response, runtime },
                    401 => State::Failed(
                        io::ErrorKind::PermissionDenied,
                        "HTTP 401".into(),
                        response
                            .headers()
                            .get_all(reqwest::header::WWW_AUTHENTICATE)
                            .iter()
                            .map(|v| v.as_bytes().to_vec())
                            .collect(),
                    ),
                    status => {
                        let location = response
                            .headers()
                            .get(reqwest::header::LOCATION)
                            .and_then(|v| v.to_str().ok())
                            .map(|l| format!(" to {l}"))
                            .unwrap_or_default();
                        let what = if (300..400).contains(&status) {
                            format!(
                                "HTTP {status}: the server redirected{location}; use the new URL"
                            )
                        } else {
                            format!("HTTP {status}")
                        };
                        State::Failed(io::ErrorKind::Other, what, Vec::new())
                    }
                },
            };
        }
        match &*state {
            State::Streaming { response, .. } => {
                let mut text = Vec::new();
                for (name, value) in response.headers() {
                    text.extend_from_slice(name.as_str().as_bytes());
                    text.push(b':');
                    text.extend_from_slice(value.as_bytes());
                    text.push(b'\n');
                }
                Ok(text)
            }
            State::Finished => Ok(Vec::new()),
            State::Failed(kind, message, www_authenticate) => {
                Err(failure(*kind, message, www_authenticate))
            }
            State::Pending { .. } => Err(io::Error::other("request not sent")),
        }
    }

    /// The next chunk of the response body; empty at the end.
    fn next_chunk(&self) -> io::Result<Bytes> {
        self.start()?;
        let mut state = self.0.lock().map_err(|_| poisoned())?;
        let State::Streaming { response, runtime } = &mut *state else {
            return Ok(Bytes::new());
        };
        let runtime = runtime.clone();
        match runtime.block_on(async { response.chunk().await }) {
            Ok(Some(chunk)) => Ok(chunk),
            Ok(None) => {
                *state = State::Finished;
                Ok(Bytes::new())
            }
            Err(error) => {
                let message = crate::error_chain(&error);
                let kind = if error.is_timeout() {
                    io::ErrorKind::TimedOut
                } else {
                    io::ErrorKind::UnexpectedEof
                };
                *state = State::Failed(kind, message.clone(), Vec::new());
                Err(io::Error::new(kind, message))
            }
        }
    }
}

fn failure(kind: io::ErrorKind, message: &str, www_authenticate: &[Vec<u8>]) -> io::Error {
    if kind == io::ErrorKind::PermissionDenied {
        // gix recognises this as "authentication required" and asks for credentials.
        return io::Error::new(
            kind,
            AuthenticationRequired {
                www_authenticate: www_authenticate.iter().map(|v| v.clone().into()).collect(),
            },
        );
    }
    io::Error::new(kind, message.to_owned())
}

/// Collects the POST body until gix reads the response.
pub struct PostWriter(Exchange);

impl Write for PostWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut state = (self.0).0.lock().map_err(|_| poisoned())?;
        match &mut *state {
            State::Pending {
                body: Some(body), ..
            } => {
                body.extend_from_slice(buf);
                Ok(buf.len())
            }
            _ => Err(io::Error::other("the request was already sent")),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Buffered reading over a source of chunks.
pub struct ChunkReader<F> {
    next: F,
    chunk: Bytes,
    done: bool,
}

impl<F: FnMut() -> io::Result<Bytes>> Read for ChunkReader<F> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let available = self.fill_buf()?;
        let n = available.len().min(buf.len());
        buf[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl<F: FnMut() -> io::Result<Bytes>> BufRead for ChunkReader<F> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        while self.chunk.is_empty() && !self.done {
            let chunk = (self.next)()?;
            if chunk.is_empty() {
                self.done = true;
            }
            self.chunk = chunk;
        }
        Ok(&self.chunk)
    }

    fn consume(&mut self, amount: usize) {
        let _ = self.chunk.split_to(amount.min(self.chunk.len()));
    }
}

type NextChunk = Box<dyn FnMut() -> io::Result<Bytes> + Send>;

/// What gix reads a response through: its headers or its body.
pub type ResponseReader = ChunkReader<NextChunk>;

impl ResponseReader {
    /// The response headers, one `name:value` line each.
    fn headers(exchange: Exchange) -> Self {
        let mut sent = false;
        Self::from_chunks(Box::new(move || {
            if sent {
                return Ok(Bytes::new());
            }
            sent = true;
            exchange.start().map(Bytes::from)
        }))
    }

    /// The response body, streamed chunk by chunk.
    fn body(exchange: Exchange) -> Self {
        Self::from_chunks(Box::new(move || exchange.next_chunk()))
    }

    fn from_chunks(next: NextChunk) -> Self {
        Self {
            next,
            chunk: Bytes::new(),
            done: false,
        }
    }
}
