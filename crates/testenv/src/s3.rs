//! An S3-compatible server on loopback for the Bucket tests: versitygw over a POSIX
//! directory (each subdirectory a bucket), with its own root credentials. Objects are written
//! through its S3 API, so they carry the ETags a client lists.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStoreExt, PutPayload};

use crate::control_plane::free_ports;
use crate::process::Process;
use crate::{Error, Result, VERSITYGW};

const READY_TIMEOUT: Duration = Duration::from_secs(20);

pub struct S3Server {
    /// `127.0.0.1:<port>`: what a Bucket's `endpoint` names.
    pub endpoint: String,
    pub access_key: String,
    pub secret_key: String,
    root: tempfile::TempDir,
    process: Process,
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
    let what = what.into();
    move |e| Error::Io(what, e)
}

fn s3_error(what: &str) -> impl FnOnce(object_store::Error) -> Error + '_ {
    move |e| Error::Io(what.to_owned(), std::io::Error::other(e.to_string()))
}

impl S3Server {
    /// Starts versitygw with fresh credentials over an empty directory.
    pub fn start() -> Result<Self> {
        let binary = VERSITYGW.path()?;
        let root = tempfile::Builder::new()
            .prefix("driftless-s3-")
            .tempdir()
            .map_err(io("creating the S3 root"))?;
        let data = root.path().join("data");
        std::fs::create_dir_all(&data).map_err(io("creating the S3 data directory"))?;
        let [port] = free_ports()?;
        let endpoint = format!("127.0.0.1:{port}");
        let access_key = format!("driftless{}", rand::random::<u32>());
        let secret_key = format!("secret{}", rand::random::<u64>());
        let mut command = Command::new(binary);
        command
            .args(["--access", &access_key, "--secret", &secret_key])
            .args(["--port", &endpoint, "posix"])
            .arg(&data);
        let process = Process::spawn("versitygw", command, &root.path().join("versitygw.log"))?;
        let mut server = Self {
            endpoint,
            access_key,
            secret_key,
            root,
            process,
        };
        server.wait_ready()?;
        Ok(server)
    }

    fn wait_ready(&mut self) -> Result<()> {
        let started = Instant::now();
        loop {
            self.process.ensure_running()?;
            if std::net::TcpStream::connect(&self.endpoint).is_ok() {
                return Ok(());
            }
            if started.elapsed() > READY_TIMEOUT {
                return Err(Error::NotReady {
                    component: "versitygw",
                    seconds: READY_TIMEOUT.as_secs(),
                    log: self.process.log_tail(30),
                });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Creates an empty bucket (a directory of the POSIX backend).
    pub fn create_bucket(&self, name: &str) -> Result<()> {
        std::fs::create_dir_all(self.bucket_dir(name)).map_err(io("creating a bucket"))
    }

    fn bucket_dir(&self, name: &str) -> std::path::PathBuf {
        self.root.path().join("data").join(name)
    }

    /// A client of `bucket` with the root credentials.
    pub fn client(&self, bucket: &str) -> Result<Arc<AmazonS3>> {
        AmazonS3Builder::new()
            .with_endpoint(format!("http://{}", self.endpoint))
            .with_allow_http(true)
            .with_region("us-east-1")
            .with_bucket_name(bucket)
            .with_access_key_id(&self.access_key)
            .with_secret_access_key(&self.secret_key)
            .build()
            .map(Arc::new)
            .map_err(s3_error("building the S3 client"))
    }

    /// Uploads `files` (key, contents) into `bucket`.
    pub async fn put(&self, bucket: &str, files: &[(&str, &[u8])]) -> Result<()> {
        let client = self.client(bucket)?;
        for (key, data) in files {
            client
                .put(&ObjectPath::from(*key), PutPayload::from(data.to_vec()))
                .await
                .map_err(s3_error("uploading an object"))?;
        }
        Ok(())
    }

    /// Deletes `key` from `bucket`.
    pub async fn delete(&self, bucket: &str, key: &str) -> Result<()> {
        self.client(bucket)?
            .delete(&ObjectPath::from(key))
            .await
            .map_err(s3_error("deleting an object"))
    }

    pub fn log_tail(&self, lines: usize) -> String {
        self.process.log_tail(lines)
    }

    /// The POSIX directory of the server's buckets.
    pub fn data_dir(&self) -> &Path {
        self.root.path()
    }
}
