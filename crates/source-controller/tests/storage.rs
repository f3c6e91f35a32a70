//! Artifact storage and its file server, over real loopback HTTP.

use std::time::{Duration, SystemTime};

use driftless_artifact::{Digest, FileEntry, Limits, unpack_to_memory};
use source_controller::storage::{Retention, Storage};

fn entries(content: &str) -> Vec<FileEntry> {
    vec![FileEntry {
        path: "deploy/app.yaml".into(),
        executable: false,
        data: content.as_bytes().to_vec(),
    }]
}

async fn serve(storage: &Storage) -> String {
    // Every test serves first: the client side needs the process's TLS provider, whichever
    // test runs first.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = storage.router(4);
    tokio::spawn(async move { axum::serve(listener, router).await });
    format!("http://{addr}")
}

#[tokio::test]
async fn serves_stored_artifacts_with_length_etag_ranges_and_head() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let parent = tempfile::tempdir().unwrap();
    let root = parent.path().join("storage");
    std::fs::create_dir(&root).unwrap();
    let storage = Storage::new(
        root.clone(),
        "source-controller.flux-system.svc.cluster.local.",
        Retention::default(),
    );
    let dir = storage
        .object_dir("GitRepository", "flux-system", "podinfo")
        .unwrap();
    assert_eq!(dir, "gitrepository/flux-system/podinfo");
    let (stored, path) = storage
        .store(&dir, "abc123.tar.gz", entries("kind: Deployment"))
        .unwrap();
    assert_eq!(path, "gitrepository/flux-system/podinfo/abc123.tar.gz");
    assert_eq!(
        storage.url(&path),
        "http://source-controller.flux-system.svc.cluster.local./gitrepository/flux-system/podinfo/abc123.tar.gz"
    );

    let base = serve(&storage).await;
    let http = reqwest::Client::new();
    let url = format!("{base}/{path}");
    let response = http.get(&url).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.content_length(), Some(stored.size));
    let etag = response.headers()["etag"].to_str().unwrap().to_owned();
    let body = response.bytes().await.unwrap();
    assert_eq!(Digest::of(&body), stored.digest);
    let tree = unpack_to_memory(&body[..], &stored.digest, Limits::default()).unwrap();
    assert_eq!(tree["deploy/app.yaml"].data, b"kind: Deployment");

    let head = http.head(&url).send().await.unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(
        head.headers()["content-length"].to_str().unwrap(),
        stored.size.to_string()
    );

    let cached = http
        .get(&url)
        .header("If-None-Match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(cached.status(), 304);

    let range = http
        .get(&url)
        .header("Range", "bytes=0-9")
        .send()
        .await
        .unwrap();
    assert_eq!(range.status(), 206);
    assert_eq!(range.bytes().await.unwrap(), body.slice(0..10));

    // Traversal attempts sent byte for byte, without the client normalising them away.
    for attempt in [
        "/../../etc/passwd",
        "/gitrepository/../../../etc/passwd",
        "/gitrepository/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    ] {
        let status = raw_get(&base, attempt).await;
        assert!(status == 404 || status == 400, "{attempt}: {status}");
    }
    for hidden in [
        "../../etc/passwd",
        "gitrepository/flux-system/podinfo/missing.tar.gz",
    ] {
        let status = http
            .get(format!("{base}/{hidden}"))
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, 404, "{hidden}");
    }
}

/// Status code of a GET sent byte for byte, without URL normalisation.
async fn raw_get(base: &str, path: &str) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

#[tokio::test]
async fn temporary_files_are_never_served() {
    let root = tempfile::tempdir().unwrap();
    let storage = Storage::new(
        root.path().to_owned(),
        "localhost:9090",
        Retention::default(),
    );
    std::fs::create_dir_all(root.path().join("gitrepository/ns/app")).unwrap();
    std::fs::write(
        root.path().join("gitrepository/ns/app/.tmp-abc.tar.gz"),
        b"partial",
    )
    .unwrap();
    let base = serve(&storage).await;
    let status = reqwest::get(format!("{base}/gitrepository/ns/app/.tmp-abc.tar.gz"))
        .await
        .unwrap()
        .status();
    assert_eq!(status, 404);
}

#[test]
fn invalid_components_never_build_a_path() {
    let storage = Storage::new("/data".into(), "localhost:9090", Retention::default());
    for (kind, ns, name) in [
        ("GitRepository", "..", "x"),
        ("GitRepository", "ns", "a/b"),
        ("", "ns", "x"),
    ] {
        assert!(
            storage.object_dir(kind, ns, name).is_err(),
            "{kind}/{ns}/{name}"
        );
    }
    let root = tempfile::tempdir().unwrap();
    let storage = Storage::new(
        root.path().to_owned(),
        "http://localhost:9090/",
        Retention::default(),
    );
    assert_eq!(
        storage.url("a/b.tar.gz"),
        "http://localhost:9090/a/b.tar.gz"
    );
    for bad in ["../x.tar.gz", "", ".hidden"] {
        assert!(
            storage
                .store("gitrepository/ns/app", bad, entries("x"))
                .is_err(),
            "{bad:?}"
        );
    }
}

#[test]
fn garbage_collection_keeps_the_current_and_newest_within_ttl() {
    let root = tempfile::tempdir().unwrap();
    let storage = Storage::new(
        root.path().to_owned(),
        "localhost:9090",
        Retention {
            records: 3,
            ttl: Duration::from_secs(3600),
        },
    );
    let dir = storage.object_dir("GitRepository", "ns", "app").unwrap();
    let now = SystemTime::now();
    // Five artifacts, a minute apart, oldest first; one two hours old.
    let ages = [7200, 240, 180, 120, 60];
    for (i, age) in ages.iter().enumerate() {
        let (stored, _) = storage
            .store(&dir, &format!("{i}.tar.gz"), entries(&i.to_string()))
            .unwrap();
        let file = std::fs::File::options()
            .write(true)
            .open(&stored.path)
            .unwrap();
        file.set_modified(now - Duration::from_secs(*age)).unwrap();
    }
    // A crash leftover.
    let leftover = root.path().join(&dir).join(".tmp-crash.tar.gz");
    std::fs::write(&leftover, b"partial").unwrap();
    std::fs::File::options()
        .write(true)
        .open(&leftover)
        .unwrap()
        .set_modified(now - Duration::from_secs(7200))
        .unwrap();

    // The current artifact is the oldest-but-one: it is kept whatever its age.
    let removed = storage.garbage_collect(&dir, "1.tar.gz").unwrap();
    let mut left: Vec<String> = std::fs::read_dir(root.path().join(&dir))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    left.sort();
    // records = 3: current + the two newest superseded ones.
    assert_eq!(left, ["1.tar.gz", "3.tar.gz", "4.tar.gz"]);
    assert_eq!(removed.len(), 3, "{removed:?}");

    // The TTL removes old superseded artifacts even within the record count.
    let short = Storage::new(
        root.path().to_owned(),
        "localhost:9090",
        Retention {
            records: 10,
            ttl: Duration::from_secs(90),
        },
    );
    short.garbage_collect(&dir, "1.tar.gz").unwrap();
    let mut left: Vec<String> = std::fs::read_dir(root.path().join(&dir))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    left.sort();
    assert_eq!(left, ["1.tar.gz", "4.tar.gz"]);

    storage.remove_object(&dir).unwrap();
    assert!(!root.path().join(&dir).exists());
    storage.remove_object(&dir).unwrap();
}

#[test]
fn orphaned_object_directories_are_removed() {
    let root = tempfile::tempdir().unwrap();
    let storage = Storage::new(
        root.path().to_owned(),
        "localhost:9090",
        Retention::default(),
    );
    for (ns, name) in [("apps", "kept"), ("apps", "gone"), ("old", "gone-too")] {
        let dir = storage.object_dir("GitRepository", ns, name).unwrap();
        storage.store(&dir, "a.tar.gz", entries(name)).unwrap();
    }
    // Another kind's artifacts are not this pass's business.
    let other = storage.object_dir("OCIRepository", "apps", "gone").unwrap();
    storage.store(&other, "a.tar.gz", entries("x")).unwrap();

    let removed = storage
        .remove_orphans("GitRepository", |ns, name| (ns, name) == ("apps", "kept"))
        .unwrap();
    assert_eq!(removed.len(), 2, "{removed:?}");
    assert!(
        root.path()
            .join("gitrepository/apps/kept/a.tar.gz")
            .exists()
    );
    assert!(!root.path().join("gitrepository/apps/gone").exists());
    assert!(
        !root.path().join("gitrepository/old").exists(),
        "empty namespace dir left"
    );
    assert!(
        root.path()
            .join("ocirepository/apps/gone/a.tar.gz")
            .exists()
    );
    // Nothing stored yet is not an error.
    let empty = tempfile::tempdir().unwrap();
    let fresh = Storage::new(
        empty.path().to_owned(),
        "localhost:9090",
        Retention::default(),
    );
    assert!(
        fresh
            .remove_orphans("GitRepository", |_, _| false)
            .unwrap()
            .is_empty()
    );
}

#[test]
fn linking_by_digest_reuses_only_intact_artifacts() {
    let parent = tempfile::tempdir().unwrap();
    let storage = Storage::new(
        parent.path().join("store"),
        "localhost",
        Retention::default(),
    );
    let (stored, path) = storage
        .store_by_digest("gitrepository/a/first", entries("a: 1\n"))
        .unwrap();
    let digest = stored.digest.to_string();

    let linked = storage
        .link_by_digest(&path, &digest, "gitrepository/b/second")
        .unwrap();
    assert!(linked.starts_with("gitrepository/b/second/"));
    let bytes = std::fs::read(storage.root().join(&linked)).unwrap();
    assert_eq!(Digest::of(&bytes), stored.digest);
    // Linking again is idempotent.
    assert_eq!(
        storage
            .link_by_digest(&path, &digest, "gitrepository/b/second")
            .unwrap(),
        linked
    );

    // The link keeps the bytes when the first object's directory goes.
    storage.remove_object("gitrepository/a/first").unwrap();
    assert_eq!(std::fs::read(storage.root().join(&linked)).unwrap(), bytes);
    // A source that is gone, or whose bytes changed, is not linked.
    assert!(
        storage
            .link_by_digest(&path, &digest, "gitrepository/c/third")
            .is_err()
    );
    std::fs::write(storage.root().join(&linked), b"garbage").unwrap();
    assert!(
        storage
            .link_by_digest(&linked, &digest, "gitrepository/c/third")
            .is_err()
    );
    assert!(
        !storage
            .root()
            .join("gitrepository/c/third")
            .join(linked.rsplit('/').next().unwrap())
            .exists()
    );
}
