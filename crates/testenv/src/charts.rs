//! A Helm chart repository as users host one: a static file server (on loopback, its own
//! thread and runtime) over a directory the real `helm` CLI fills with `helm package` and
//! `helm repo index`, optionally behind basic auth. Requests are recorded.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::Response;

use crate::{Error, HELM, Result};

struct ServerState {
    root: PathBuf,
    basic: Option<(String, String)>,
    log: Mutex<Vec<String>>,
}

/// A running chart repository; stopped when dropped.
pub struct ChartRepository {
    addr: SocketAddr,
    root: tempfile::TempDir,
    work: tempfile::TempDir,
    state: Arc<ServerState>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
    let what = what.into();
    move |e| Error::Io(what, e)
}

impl ChartRepository {
    /// Serves an empty repository; with `basic`, every request must carry those credentials.
    pub fn start(basic: Option<(&str, &str)>) -> Result<Self> {
        let tempdir = |prefix: &str| {
            tempfile::Builder::new()
                .prefix(prefix)
                .tempdir()
                .map_err(io("creating the chart repository directories"))
        };
        let (root, work) = (
            tempdir("driftless-charts-")?,
            tempdir("driftless-chart-src-")?,
        );
        let state = Arc::new(ServerState {
            root: root.path().to_owned(),
            basic: basic.map(|(u, p)| (u.to_owned(), p.to_owned())),
            log: Mutex::default(),
        });
        let listener = std::net::TcpListener::bind("127.0.0.1:0")
            .map_err(io("binding the chart repository"))?;
        listener
            .set_nonblocking(true)
            .map_err(io("configuring the chart repository socket"))?;
        let addr = listener
            .local_addr()
            .map_err(io("chart repository address"))?;
        let (shutdown, stopped) = tokio::sync::oneshot::channel::<()>();
        let app_state = state.clone();
        let thread = std::thread::Builder::new()
            .name("chart-repository".into())
            .spawn(move || {
                let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                else {
                    return;
                };
                runtime.block_on(async move {
                    let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                        return;
                    };
                    let app = axum::Router::new().fallback(serve).with_state(app_state);
                    let _ = axum::serve(listener, app)
                        .with_graceful_shutdown(async move {
                            let _ = stopped.await;
                        })
                        .await;
                });
            })
            .map_err(io("starting the chart repository thread"))?;
        Ok(Self {
            addr,
            root,
            work,
            state,
            shutdown: Some(shutdown),
            thread: Some(thread),
        })
    }

    /// `http://127.0.0.1:<port>`, without a trailing slash.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The served directory.
    pub fn dir(&self) -> &Path {
        self.root.path()
    }

    /// Paths requested so far, in order.
    pub fn requests(&self) -> Vec<String> {
        self.state.log.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// Writes a chart source directory `<name>` from `files` (path, contents) in a work
    /// directory outside the served one; returns its path.
    pub fn write_chart(&self, name: &str, files: &[(&str, &str)]) -> Result<PathBuf> {
        let dir = self.work.path().join(name);
        let _ = std::fs::remove_dir_all(&dir);
        for (path, contents) in files {
            let file = dir.join(path);
            if let Some(parent) = file.parent() {
                std::fs::create_dir_all(parent).map_err(io("creating a chart directory"))?;
            }
            std::fs::write(&file, contents).map_err(io(format!("writing {path}")))?;
        }
        Ok(dir)
    }

    /// `helm package <chart> -d <served dir>`, then `helm repo index` over the served dir
    /// (chart URLs relative, as Helm writes them by default).
    pub fn publish(&self, chart_dir: &Path) -> Result<()> {
        helm(&[
            "package",
            &chart_dir.to_string_lossy(),
            "-d",
            &self.dir().to_string_lossy(),
        ])?;
        helm(&["repo", "index", &self.dir().to_string_lossy()])?;
        Ok(())
    }
}

impl Drop for ChartRepository {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Runs the real `helm` with its own empty config, cache and data directories; returns
/// standard output.
pub fn helm(args: &[&str]) -> Result<String> {
    let home = tempfile::Builder::new()
        .prefix("driftless-helm-home-")
        .tempdir()
        .map_err(io("creating a helm home"))?;
    let output = Command::new(HELM.path()?)
        .args(args)
        .env("HELM_CONFIG_HOME", home.path().join("config"))
        .env("HELM_CACHE_HOME", home.path().join("cache"))
        .env("HELM_DATA_HOME", home.path().join("data"))
        .output()
        .map_err(io("running helm"))?;
    if !output.status.success() {
        return Err(Error::Io(
            format!("helm {}", args.join(" ")),
            std::io::Error::other(String::from_utf8_lossy(&output.stderr).into_owned()),
        ));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

async fn serve(State(state): State<Arc<ServerState>>, request: Request) -> Response {
    let path = request.uri().path().to_owned();
    if let Ok(mut log) = state.log.lock() {
        log.push(path.clone());
    }
    let status = |code: StatusCode| {
        Response::builder()
            .status(code)
            .body(Body::empty())
            .unwrap_or_default()
    };
    if let Some(credentials) = &state.basic {
        let given = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        if !given.is_some_and(|value| crate::git::basic_matches(credentials, value)) {
            return status(StatusCode::UNAUTHORIZED);
        }
    }
    let relative = path.trim_start_matches('/');
    if relative.is_empty()
        || relative
            .split('/')
            .any(|part| part == ".." || part.is_empty())
    {
        return status(StatusCode::NOT_FOUND);
    }
    match tokio::fs::read(state.root.join(relative)).await {
        Ok(bytes) => Response::builder()
            .header(header::CONTENT_LENGTH, bytes.len())
            .body(Body::from(bytes))
            .unwrap_or_default(),
        Err(_) => status(StatusCode::NOT_FOUND),
    }
}

/// A case of the shared Helm conformance corpus (`case.json` in `case_dir`) as `helm template`
/// arguments after the release and chart: namespace, values files, `--set`, kube version,
/// API versions, CRDs and tests, in the order the corpus' `run.py` gives them.
pub fn corpus_case_args(case_dir: &Path, case: &serde_json::Value) -> Vec<String> {
    let text = |key: &str| case[key].as_str().unwrap_or_default().to_owned();
    let list = |key: &str| {
        case[key]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect::<Vec<_>>()
    };
    let mut args = vec!["--namespace".to_owned(), text("namespace")];
    for file in list("values") {
        args.push("-f".into());
        args.push(case_dir.join(file).to_string_lossy().into_owned());
    }
    for set in list("set") {
        args.push("--set".into());
        args.push(set);
    }
    args.push("--kube-version".into());
    args.push(text("kubeVersion"));
    for api in list("apiVersions") {
        args.push("--api-versions".into());
        args.push(api);
    }
    if case["includeCrds"].as_bool() == Some(true) {
        args.push("--include-crds".into());
    }
    if case["skipTests"].as_bool() == Some(true) {
        args.push("--skip-tests".into());
    }
    args
}
