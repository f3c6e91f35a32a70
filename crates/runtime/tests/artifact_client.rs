//! The artifact client against a real HTTP server on loopback.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use driftless_api::meta::Artifact;
use driftless_artifact::{Digest, FileEntry, Limits, pack};
use driftless_runtime::artifact::{ArtifactFetcher, FetchError, RetryPolicy};

struct Served {
    body: Vec<u8>,
    hits: AtomicUsize,
}

fn packed(content: &str) -> (Vec<u8>, Digest) {
    let bytes = pack(
        vec![FileEntry {
            path: "deploy/app.yaml".into(),
            executable: false,
            data: content.as_bytes().to_vec(),
        }],
        Vec::new(),
    )
    .unwrap();
    let digest = Digest::of(&bytes);
    (bytes, digest)
}

async fn serve(body: Vec<u8>) -> (String, Arc<Served>) {
    let served = Arc::new(Served {
        body,
        hits: AtomicUsize::new(0),
    });
    let app = axum::Router::new()
        .route(
            "/gitrepository/ns/app/a.tar.gz",
            get(|State(s): State<Arc<Served>>| async move {
                s.hits.fetch_add(1, Ordering::SeqCst);
                // Slow enough that concurrent callers overlap.
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                s.body.clone()
            }),
        )
        .route("/gone", get(|| async { StatusCode::NOT_FOUND }))
        .route(
            "/broken",
            get(|| async { StatusCode::INTERNAL_SERVER_ERROR }),
        )
        .with_state(served.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), served)
}

fn artifact(url: String, digest: &Digest) -> Artifact {
    Artifact {
        path: "gitrepository/ns/app/a.tar.gz".into(),
        url,
        revision: "main@sha1:0123456789012345678901234567890123456789".into(),
        digest: digest.to_string(),
        last_update_time: driftless_runtime::conditions::now(),
        size: None,
        metadata: None,
    }
}

fn fetcher(cache_bytes: u64) -> ArtifactFetcher {
    let _ = rustls::crypto::ring::default_provider().install_default();
    ArtifactFetcher::with_host_override(
        reqwest::Client::new(),
        Limits::default(),
        cache_bytes,
        None,
    )
}

#[tokio::test]
async fn concurrent_fetches_of_one_digest_download_once_and_verify() {
    let (bytes, digest) = packed("replicas: 3\n");
    let (base, served) = serve(bytes).await;
    let fetcher = Arc::new(fetcher(64 << 20));
    let wanted = artifact(format!("{base}/gitrepository/ns/app/a.tar.gz"), &digest);
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let fetcher = fetcher.clone();
            let wanted = wanted.clone();
            tokio::spawn(async move { fetcher.fetch(&wanted).await })
        })
        .collect();
    for task in tasks {
        let tree = task.await.unwrap().unwrap();
        assert_eq!(tree["deploy/app.yaml"].data, b"replicas: 3\n");
    }
    assert_eq!(
        served.hits.load(Ordering::SeqCst),
        1,
        "one download for 20 callers"
    );
    // Later callers are served from the cache too.
    fetcher.fetch(&wanted).await.unwrap();
    assert_eq!(served.hits.load(Ordering::SeqCst), 1);

    // Unpacking to a directory verifies just the same.
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("src");
    fetcher.fetch_to_dir(&wanted, &dest).await.unwrap();
    assert_eq!(
        std::fs::read(dest.join("deploy/app.yaml")).unwrap(),
        b"replicas: 3\n"
    );
}

#[tokio::test]
async fn a_digest_mismatch_is_refused_and_not_cached() {
    let (bytes, _) = packed("replicas: 3\n");
    let (_, other) = packed("replicas: 4\n");
    let (base, served) = serve(bytes).await;
    let fetcher = fetcher(64 << 20);
    let wrong = artifact(format!("{base}/gitrepository/ns/app/a.tar.gz"), &other);
    for _ in 0..2 {
        let error = fetcher.fetch(&wrong).await.unwrap_err();
        assert!(
            matches!(
                &error,
                FetchError::Unpack {
                    source: driftless_artifact::UnpackError::DigestMismatch { .. },
                    ..
                }
            ),
            "{error}"
        );
    }
    assert_eq!(
        served.hits.load(Ordering::SeqCst),
        2,
        "failures are not cached"
    );
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("src");
    assert!(fetcher.fetch_to_dir(&wrong, &dest).await.is_err());
    assert!(
        !dest.exists(),
        "nothing unpacked from an unverified artifact"
    );
}

#[tokio::test]
async fn http_failures_and_limits_are_specific() {
    let (bytes, digest) = packed(&"x".repeat(10_000));
    let (base, _) = serve(bytes.clone()).await;
    let fetcher = fetcher(0);
    let error = fetcher
        .fetch(&artifact(format!("{base}/gone"), &digest))
        .await
        .unwrap_err();
    assert!(error.is_not_found(), "{error}");
    let error = fetcher
        .fetch(&artifact(format!("{base}/broken"), &digest))
        .await
        .unwrap_err();
    assert!(
        matches!(error, FetchError::Status { status: 500, .. }),
        "{error}"
    );
    let error = fetcher
        .fetch(&artifact("file:///etc/passwd".into(), &digest))
        .await
        .unwrap_err();
    assert!(matches!(error, FetchError::InvalidUrl { .. }), "{error}");
    let mut bad = artifact(format!("{base}/gitrepository/ns/app/a.tar.gz"), &digest);
    bad.digest = "md5:abc".into();
    assert!(matches!(
        fetcher.fetch(&bad).await.unwrap_err(),
        FetchError::InvalidDigest(_)
    ));

    let small = ArtifactFetcher::with_host_override(
        reqwest::Client::new(),
        Limits {
            max_compressed_bytes: (bytes.len() - 1) as u64,
            ..Limits::default()
        },
        0,
        None,
    );
    let error = small
        .fetch(&artifact(
            format!("{base}/gitrepository/ns/app/a.tar.gz"),
            &digest,
        ))
        .await
        .unwrap_err();
    assert!(matches!(error, FetchError::TooLarge { .. }), "{error}");
}

#[tokio::test]
async fn the_source_host_can_be_overridden() {
    let (bytes, digest) = packed("a: 1\n");
    let (base, served) = serve(bytes).await;
    let port_host = base.trim_start_matches("http://").to_owned();
    let fetcher = ArtifactFetcher::with_host_override(
        reqwest::Client::new(),
        Limits::default(),
        1 << 20,
        Some(port_host),
    );
    let in_cluster = artifact(
        "http://source-controller.flux-system.svc.cluster.local./gitrepository/ns/app/a.tar.gz"
            .into(),
        &digest,
    );
    let tree = fetcher.fetch(&in_cluster).await.unwrap();
    assert_eq!(tree["deploy/app.yaml"].data, b"a: 1\n");
    assert_eq!(served.hits.load(Ordering::SeqCst), 1);
}

/// A source that answers 503 twice before serving: Flux's `--http-retry` rides it out, no
/// retries fail on the first answer, and a 404 is never retried.
#[tokio::test]
async fn failed_downloads_are_retried_as_flux_retries_them() {
    let (bytes, digest) = packed("retried");
    let served = Arc::new(Served {
        body: bytes,
        hits: AtomicUsize::new(0),
    });
    let app = axum::Router::new()
        .route(
            "/flaky",
            get(|State(s): State<Arc<Served>>| async move {
                match s.hits.fetch_add(1, Ordering::SeqCst) {
                    0 | 1 => Err(StatusCode::SERVICE_UNAVAILABLE),
                    _ => Ok(s.body.clone()),
                }
            }),
        )
        .route(
            "/gone",
            get(|State(s): State<Arc<Served>>| async move {
                s.hits.fetch_add(1, Ordering::SeqCst);
                StatusCode::NOT_FOUND
            }),
        )
        .with_state(served.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let quick = RetryPolicy {
        retries: 3,
        wait_min: std::time::Duration::from_millis(10),
        wait_max: std::time::Duration::from_millis(40),
    };

    let once = fetcher(0);
    let error = once
        .fetch(&artifact(format!("{base}/flaky"), &digest))
        .await
        .unwrap_err();
    assert!(
        matches!(error, FetchError::Status { status: 503, .. }),
        "{error}"
    );

    let retrying = fetcher(0).with_retries(quick);
    let tree = retrying
        .fetch(&artifact(format!("{base}/flaky"), &digest))
        .await
        .unwrap();
    assert_eq!(tree.get("deploy/app.yaml").unwrap().data, b"retried");
    assert_eq!(served.hits.load(Ordering::SeqCst), 3);

    served.hits.store(0, Ordering::SeqCst);
    let error = retrying
        .fetch(&artifact(format!("{base}/gone"), &digest))
        .await
        .unwrap_err();
    assert!(error.is_not_found(), "{error}");
    assert_eq!(
        served.hits.load(Ordering::SeqCst),
        1,
        "a 404 is not retried"
    );

    // Nothing listening: connection errors are retried, then reported.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let error = retrying
        .fetch(&artifact(
            format!("http://127.0.0.1:{port}/a.tar.gz"),
            &digest,
        ))
        .await
        .unwrap_err();
    assert!(matches!(error, FetchError::Transport { .. }), "{error}");
}
