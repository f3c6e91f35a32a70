//! The real `sops` and `age-keygen` (installed by `cargo xtask testenv build`), for tests that
//! decrypt what the reference tool encrypted.

use std::path::Path;
use std::process::Command;

use crate::{AGE_KEYGEN, Error, Result, SOPS};

/// An age key pair made by `age-keygen`, with a scratch directory for `sops` to work in.
pub struct AgeKey {
    /// The key file as `age-keygen` writes it (comments and the `AGE-SECRET-KEY-1…` line).
    pub private: String,
    /// `age1…`
    pub public: String,
    dir: tempfile::TempDir,
}

fn io(what: &str) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |e| Error::Io(what.to_owned(), e)
}

impl AgeKey {
    pub fn generate() -> Result<AgeKey> {
        let dir = tempfile::tempdir().map_err(io("creating a sops work directory"))?;
        let key_file = dir.path().join("key.txt");
        let output = Command::new(AGE_KEYGEN.path()?)
            .arg("-o")
            .arg(&key_file)
            .output()
            .map_err(io("running age-keygen"))?;
        if !output.status.success() {
            return Err(Error::Io(
                "age-keygen".into(),
                std::io::Error::other(String::from_utf8_lossy(&output.stderr).into_owned()),
            ));
        }
        let private = std::fs::read_to_string(&key_file).map_err(io("reading the age key"))?;
        std::fs::remove_file(&key_file).map_err(io("removing the age key file"))?;
        let public = private
            .lines()
            .find_map(|l| l.strip_prefix("# public key: "))
            .unwrap_or_default()
            .to_owned();
        Ok(AgeKey {
            private,
            public,
            dir,
        })
    }

    /// `sops --encrypt --age <public> <flags> <name>` of `plain`: the file name picks the
    /// format, as it does for sops.
    pub fn encrypt(&self, name: &str, plain: &[u8], flags: &[&str]) -> Result<Vec<u8>> {
        let path = self.dir.path().join(name);
        std::fs::write(&path, plain).map_err(io("writing a plaintext fixture"))?;
        let output = Command::new(SOPS.path()?)
            .current_dir(self.dir.path())
            .args(["--encrypt", "--age", &self.public])
            .args(flags)
            .arg(Path::new(name))
            .output()
            .map_err(io("running sops"))?;
        let _ = std::fs::remove_file(&path);
        if !output.status.success() {
            return Err(Error::Io(
                "sops --encrypt".into(),
                std::io::Error::other(String::from_utf8_lossy(&output.stderr).into_owned()),
            ));
        }
        Ok(output.stdout)
    }
}
