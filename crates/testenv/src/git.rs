//! A real Git server for tests: `git http-backend` (smart HTTP, protocol v2) behind a small
//! axum CGI bridge on loopback, with optional basic or bearer authentication, and helpers that
//! build repositories with the `git` CLI. Every request is logged so tests can assert what a
//! client asked for (for example, that a reconcile listed refs but fetched no pack). Pushes
//! over HTTP are refused unless the server was started with push credentials
//! ([`GitServer::start_accepting_pushes`]).

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;

use crate::{Error, Result};

/// Who may read the repositories.
#[derive(Clone, Debug, Default)]
pub struct GitAuth {
    /// Required `username`/`password` (basic auth).
    pub basic: Option<(String, String)>,
    /// Accepted bearer token.
    pub bearer: Option<String>,
}

/// One request the server answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GitRequest {
    pub method: String,
    pub path: String,
    /// `ls-refs` or `fetch` for protocol v2 upload-pack requests.
    pub command: Option<String>,
    pub status: u16,
}

struct ServerState {
    root: PathBuf,
    auth: GitAuth,
    /// Basic-auth `username`/`password` that may push; None: receive-pack is refused.
    push: Option<(String, String)>,
    log: Mutex<Vec<GitRequest>>,
    /// Runs once, right after the next pack is served: another writer acting between a
    /// client's fetch and its push.
    after_fetch: Mutex<Option<Box<dyn FnOnce() + Send>>>,
}

pub struct GitServer {
    pub addr: SocketAddr,
    /// The CA that signed the server's certificate, when it serves HTTPS.
    pub ca_pem: Option<String>,
    root: tempfile::TempDir,
    state: Arc<ServerState>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
    let what = what.into();
    move |e| Error::Io(what, e)
}

impl GitServer {
    /// Starts an HTTP server on a free loopback port, on its own thread and runtime so it
    /// outlives any one test's runtime.
    pub fn start(auth: GitAuth) -> Result<Self> {
        Self::start_with(auth, None, false, Ipv4Addr::LOCALHOST)
    }

    /// Like [`GitServer::start`], listening on `ip`: a test node's `host_ip`, for Pods.
    pub fn start_on(auth: GitAuth, ip: Ipv4Addr) -> Result<Self> {
        Self::start_with(auth, None, false, ip)
    }

    /// Like [`GitServer::start`], serving HTTPS with a certificate for 127.0.0.1 signed by a
    /// throwaway CA ([`GitServer::ca_pem`]).
    pub fn start_tls(auth: GitAuth) -> Result<Self> {
        Self::start_with(auth, None, true, Ipv4Addr::LOCALHOST)
    }

    /// Like [`GitServer::start`], also accepting `git push` from clients that authenticate
    /// with basic auth as `user`/`password` (pushes without them get 401).
    pub fn start_accepting_pushes(auth: GitAuth, user: &str, password: &str) -> Result<Self> {
        Self::start_with(
            auth,
            Some((user.to_owned(), password.to_owned())),
            false,
            Ipv4Addr::LOCALHOST,
        )
    }

    /// Like [`GitServer::start_accepting_pushes`], listening on `ip`: a test node's
    /// `host_ip`, for Pods.
    pub fn start_accepting_pushes_on(
        auth: GitAuth,
        user: &str,
        password: &str,
        ip: Ipv4Addr,
    ) -> Result<Self> {
        Self::start_with(
            auth,
            Some((user.to_owned(), password.to_owned())),
            false,
            ip,
        )
    }

    fn start_with(
        auth: GitAuth,
        push: Option<(String, String)>,
        tls: bool,
        ip: Ipv4Addr,
    ) -> Result<Self> {
        let (acceptor, ca_pem) = if tls {
            let pki = crate::certs::Pki::generate()?;
            (
                Some(crate::tls::acceptor(&pki)?),
                Some(pki.serving_ca_pem.clone()),
            )
        } else {
            (None, None)
        };
        let root = tempfile::Builder::new()
            .prefix("driftless-git-")
            .tempdir()
            .map_err(io("creating the git server root"))?;
        let state = Arc::new(ServerState {
            root: root.path().to_owned(),
            auth,
            push,
            log: Mutex::default(),
            after_fetch: Mutex::default(),
        });
        let listener =
            std::net::TcpListener::bind((ip, 0)).map_err(io("binding the git server"))?;
        listener
            .set_nonblocking(true)
            .map_err(io("configuring the git server socket"))?;
        let addr = listener.local_addr().map_err(io("git server address"))?;
        let (shutdown, stopped) = tokio::sync::oneshot::channel::<()>();
        let app_state = state.clone();
        let thread = std::thread::Builder::new()
            .name("git-server".into())
            .spawn(move || {
                let Ok(runtime) = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                else {
                    return;
                };
                runtime.block_on(async move {
                    let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                        return;
                    };
                    let app = axum::Router::new().fallback(handle).with_state(app_state);
                    let stopped = async move {
                        let _ = stopped.await;
                    };
                    match acceptor {
                        Some(acceptor) => {
                            let listener = crate::tls::TlsListener { listener, acceptor };
                            let _ = axum::serve(listener, app)
                                .with_graceful_shutdown(stopped)
                                .await;
                        }
                        None => {
                            let _ = axum::serve(listener, app)
                                .with_graceful_shutdown(stopped)
                                .await;
                        }
                    }
                });
            })
            .map_err(io("starting the git server thread"))?;
        Ok(Self {
            addr,
            ca_pem,
            root,
            state,
            shutdown: Some(shutdown),
            thread: Some(thread),
        })
    }

    /// `http(s)://<address>:<port>/<name>.git`
    pub fn url(&self, name: &str) -> String {
        let scheme = if self.ca_pem.is_some() {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://{}/{name}.git", self.addr)
    }

    /// Creates an empty bare repository `<name>.git` and a working copy that pushes to it.
    pub fn create_repo(&self, name: &str) -> Result<GitRepo> {
        GitRepo::create(&self.root.path().join(format!("{name}.git")))
    }

    /// Requests answered so far.
    /// Runs `act` once, right after the server next serves a pack (a `fetch` command), before
    /// it answers anything else: how a test makes another writer push between a client's
    /// fetch and its push.
    pub fn after_next_fetch(&self, act: impl FnOnce() + Send + 'static) {
        if let Ok(mut slot) = self.state.after_fetch.lock() {
            *slot = Some(Box::new(act));
        }
    }

    pub fn requests(&self) -> Vec<GitRequest> {
        self.state.log.lock().map(|l| l.clone()).unwrap_or_default()
    }

    pub fn clear_requests(&self) {
        if let Ok(mut log) = self.state.log.lock() {
            log.clear();
        }
    }
}

impl Drop for GitServer {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn authorized(auth: &GitAuth, headers: &HeaderMap) -> bool {
    if auth.basic.is_none() && auth.bearer.is_none() {
        return true;
    }
    let Some(value) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    if let (Some(token), Some(given)) = (&auth.bearer, value.strip_prefix("Bearer "))
        && given == token
    {
        return true;
    }
    auth.basic
        .as_ref()
        .is_some_and(|credentials| basic_matches(credentials, value))
}

/// Whether an `Authorization` header value carries these basic credentials.
pub(crate) fn basic_matches((user, pass): &(String, String), value: &str) -> bool {
    use base64::Engine;
    let expected = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
    value.strip_prefix("Basic ") == Some(expected.as_str())
}

/// Whether a request is part of a push: the ref advertisement for receive-pack or the pack.
fn is_push(path: &str, query: &str) -> bool {
    path.ends_with("/git-receive-pack") || query.split('&').any(|p| p == "service=git-receive-pack")
}

fn upload_pack_command(body: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(body);
    ["ls-refs", "fetch"]
        .into_iter()
        .find(|c| text.contains(&format!("command={c}")))
        .map(str::to_owned)
}

async fn handle(State(state): State<Arc<ServerState>>, request: Request) -> Response {
    let method = request.method().to_string();
    let path = request.uri().path().to_owned();
    let query = request.uri().query().unwrap_or_default().to_owned();
    let headers = request.headers().clone();
    let body = axum::body::to_bytes(request.into_body(), 64 << 20)
        .await
        .unwrap_or_default();
    let command = if path.ends_with("/git-upload-pack") {
        upload_pack_command(&body)
    } else {
        None
    };
    // With push credentials, a push must carry them, and git http-backend runs receive-pack
    // for the REMOTE_USER set then. Without, no REMOTE_USER is ever set: pushes get its 403.
    let push_credentials = state.push.as_ref().filter(|_| is_push(&path, &query));
    let allowed = match push_credentials {
        Some(credentials) => headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|value| basic_matches(credentials, value)),
        None => authorized(&state.auth, &headers),
    };
    let response = if allowed {
        let state = state.clone();
        let (method, path) = (method.clone(), path.clone());
        let remote_user = push_credentials.map(|(user, _)| user.clone());
        tokio::task::spawn_blocking(move || {
            let request = CgiRequest {
                method: &method,
                path: &path,
                query: &query,
                remote_user: remote_user.as_deref(),
            };
            cgi(&state.root, &request, &headers, body)
        })
        .await
        .unwrap_or_else(|_| plain(StatusCode::INTERNAL_SERVER_ERROR, "backend panicked"))
    } else {
        let mut response = plain(StatusCode::UNAUTHORIZED, "authentication required");
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"git\""),
        );
        response
    };
    let served_pack = command.as_deref() == Some("fetch") && response.status().is_success();
    if let Ok(mut log) = state.log.lock() {
        log.push(GitRequest {
            method,
            path,
            command,
            status: response.status().as_u16(),
        });
    }
    let act = served_pack
        .then(|| {
            state
                .after_fetch
                .lock()
                .ok()
                .and_then(|mut slot| slot.take())
        })
        .flatten();
    if let Some(act) = act {
        let _ = tokio::task::spawn_blocking(act).await;
    }
    response
}

fn plain(status: StatusCode, text: &'static str) -> Response {
    let mut response = Response::new(Body::from(text));
    *response.status_mut() = status;
    response
}

struct CgiRequest<'a> {
    method: &'a str,
    path: &'a str,
    query: &'a str,
    /// The authenticated pusher, if any.
    remote_user: Option<&'a str>,
}

/// Runs `git http-backend` as a CGI program for one request.
fn cgi(root: &Path, request: &CgiRequest, headers: &HeaderMap, body: Bytes) -> Response {
    let header_value = |name: header::HeaderName| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let mut command = Command::new("git");
    command
        .arg("http-backend")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("GIT_PROJECT_ROOT", root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", root)
        .env("REQUEST_METHOD", request.method)
        .env("PATH_INFO", request.path)
        .env("QUERY_STRING", request.query)
        .env("CONTENT_TYPE", header_value(header::CONTENT_TYPE))
        .env("CONTENT_LENGTH", body.len().to_string())
        .env("REMOTE_ADDR", "127.0.0.1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(user) = request.remote_user {
        command.env("REMOTE_USER", user);
    }
    if let Some(protocol) = headers.get("git-protocol").and_then(|v| v.to_str().ok()) {
        command.env("GIT_PROTOCOL", protocol);
    }
    let encoding = header_value(header::CONTENT_ENCODING);
    if !encoding.is_empty() {
        command.env("HTTP_CONTENT_ENCODING", encoding);
    }
    let Ok(mut child) = command.spawn() else {
        return plain(
            StatusCode::INTERNAL_SERVER_ERROR,
            "cannot run git http-backend",
        );
    };
    if let Some(mut stdin) = child.stdin.take() {
        use std::io::Write;
        let _ = stdin.write_all(&body);
    }
    let Ok(output) = child.wait_with_output() else {
        return plain(StatusCode::INTERNAL_SERVER_ERROR, "git http-backend failed");
    };
    let out = output.stdout;
    let Some(split) = out
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| (i, 4))
        .or_else(|| out.windows(2).position(|w| w == b"\n\n").map(|i| (i, 2)))
    else {
        return plain(StatusCode::BAD_GATEWAY, "malformed CGI response");
    };
    let head = String::from_utf8_lossy(&out[..split.0]).into_owned();
    let mut response = Response::new(Body::from(out[split.0 + split.1..].to_vec()));
    for line in head.lines() {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("status") {
            let code = value.split_whitespace().next().and_then(|c| c.parse().ok());
            if let Some(status) = code.and_then(|c| StatusCode::from_u16(c).ok()) {
                *response.status_mut() = status;
            }
        } else if let (Ok(name), Ok(value)) = (
            header::HeaderName::from_bytes(name.trim().as_bytes()),
            HeaderValue::from_str(value),
        ) {
            response.headers_mut().append(name, value);
        }
    }
    response
}

/// A bare repository served by [`GitServer`] and a working copy that pushes to it.
pub struct GitRepo {
    pub bare: PathBuf,
    work: tempfile::TempDir,
}

/// Runs `git` in `dir` with a fixed identity and no user or system configuration.
pub fn git(dir: &Path, args: &[&str]) -> Result<String> {
    git_with_env(dir, args, &HashMap::new())
}

fn git_with_env(dir: &Path, args: &[&str], env: &HashMap<&str, &str>) -> Result<String> {
    let output = Command::new("git")
        .current_dir(dir)
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", "Driftless Test")
        .env("GIT_AUTHOR_EMAIL", "test@driftless.invalid")
        .env("GIT_COMMITTER_NAME", "Driftless Test")
        .env("GIT_COMMITTER_EMAIL", "test@driftless.invalid")
        .envs(env)
        .output()
        .map_err(io(format!("running git {args:?}")))?;
    if !output.status.success() {
        return Err(Error::Io(
            format!(
                "git {args:?} failed: {}",
                String::from_utf8_lossy(&output.stderr)
            ),
            std::io::Error::other("git failed"),
        ));
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

impl GitRepo {
    pub fn create(bare: &Path) -> Result<Self> {
        std::fs::create_dir_all(bare).map_err(io("creating a bare repository"))?;
        git(
            bare,
            &["init", "--quiet", "--bare", "--initial-branch=main"],
        )?;
        // Lets protocol v0/v1 clients fetch a commit by id too.
        git(bare, &["config", "uploadpack.allowAnySHA1InWant", "true"])?;
        let work = tempfile::Builder::new()
            .prefix("driftless-work-")
            .tempdir()
            .map_err(io("creating a working copy"))?;
        git(work.path(), &["init", "--quiet", "--initial-branch=main"])?;
        let bare_path = bare.to_string_lossy().into_owned();
        git(work.path(), &["remote", "add", "origin", &bare_path])?;
        Ok(Self {
            bare: bare.to_owned(),
            work,
        })
    }

    pub fn work_dir(&self) -> &Path {
        self.work.path()
    }

    pub fn git(&self, args: &[&str]) -> Result<String> {
        git(self.work.path(), args)
    }

    /// Writes `files` (path, contents), stages everything and commits; returns the commit id.
    pub fn commit(&self, files: &[(&str, &str)], message: &str) -> Result<String> {
        for (path, contents) in files {
            let full = self.work.path().join(path);
            if let Some(parent) = full.parent() {
                std::fs::create_dir_all(parent).map_err(io("creating directories"))?;
            }
            std::fs::write(&full, contents).map_err(io(format!("writing {path}")))?;
        }
        self.git(&["add", "--all"])?;
        self.git(&["commit", "--quiet", "--allow-empty", "-m", message])?;
        self.git(&["rev-parse", "HEAD"])
    }

    /// Removes `path` from the working copy (commit to record it).
    pub fn remove(&self, path: &str) -> Result<()> {
        self.git(&["rm", "-r", "--quiet", path]).map(drop)
    }

    /// Pushes the current HEAD to `branch`, forcing (so rewritten history replaces the old).
    pub fn push(&self, branch: &str) -> Result<()> {
        self.git(&[
            "push",
            "--quiet",
            "--force",
            "origin",
            &format!("HEAD:refs/heads/{branch}"),
        ])
        .map(drop)
    }

    /// Tags HEAD (annotated when `message` is given) and pushes the tag.
    pub fn tag(&self, name: &str, message: Option<&str>) -> Result<()> {
        match message {
            Some(message) => self.git(&["tag", "--annotate", "-m", message, name])?,
            None => self.git(&["tag", name])?,
        };
        self.git(&[
            "push",
            "--quiet",
            "--force",
            "origin",
            &format!("refs/tags/{name}"),
        ])
        .map(drop)
    }

    /// Pushes HEAD to an arbitrary ref, such as `refs/pull/1/head`.
    pub fn push_ref(&self, reference: &str) -> Result<()> {
        self.git(&[
            "push",
            "--quiet",
            "--force",
            "origin",
            &format!("HEAD:{reference}"),
        ])
        .map(drop)
    }
}
