//! SSH transport settings: gix runs the system `ssh`, so the key and `known_hosts` go into
//! private files of the fetch's temporary directory, and the command pins every option that
//! matters (no user config, no agent, strict host key checking, no prompts).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::auth::SshCredentials;

pub struct SshFiles {
    /// ssh's own diagnostics ("Host key verification failed."), which gix does not keep.
    pub stderr: PathBuf,
    identity: PathBuf,
    known_hosts: PathBuf,
    askpass: Option<PathBuf>,
}

fn write_private(path: &Path, contents: &[u8], mode: u32) -> Result<(), String> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(|e| format!("writing {}: {e}", path.display()))?;
    file.write_all(contents)
        .map_err(|e| format!("writing {}: {e}", path.display()))
}

/// Single-quotes `value` for `sh`.
fn quote(value: &Path) -> String {
    format!("'{}'", value.display().to_string().replace('\'', r"'\''"))
}

impl SshFiles {
    pub fn write(dir: &Path, creds: &SshCredentials) -> Result<Self, String> {
        let ssh_dir = dir.join("ssh");
        std::fs::create_dir(&ssh_dir)
            .map_err(|e| format!("creating {}: {e}", ssh_dir.display()))?;
        let identity = ssh_dir.join("identity");
        let mut key = creds.identity.clone();
        // OpenSSH refuses a key file without its final newline.
        if !key.ends_with(b"\n") {
            key.push(b'\n');
        }
        write_private(&identity, &key, 0o600)?;
        let known_hosts = ssh_dir.join("known_hosts");
        write_private(&known_hosts, &creds.known_hosts, 0o600)?;
        let askpass = match &creds.passphrase {
            Some(passphrase) => {
                let secret = ssh_dir.join("passphrase");
                write_private(&secret, passphrase.as_bytes(), 0o600)?;
                let script = ssh_dir.join("askpass");
                write_private(
                    &script,
                    format!("#!/bin/sh\nexec cat {}\n", quote(&secret)).as_bytes(),
                    0o700,
                )?;
                Some(script)
            }
            None => None,
        };
        Ok(Self {
            stderr: ssh_dir.join("stderr"),
            identity,
            known_hosts,
            askpass,
        })
    }

    /// What ssh printed on failure, if anything.
    pub fn diagnostics(&self) -> Option<String> {
        std::fs::read_to_string(&self.stderr)
            .ok()
            .map(|text| text.trim().replace('\n', "; ").replace('\r', ""))
            .filter(|text| !text.is_empty())
    }

    /// The `core.sshCommand` value. `exec` makes the process gix kills on drop `ssh` itself;
    /// gix appends the arguments after the stderr redirection.
    pub fn command(&self, timeout: Duration) -> String {
        let prefix = match &self.askpass {
            // ssh reads the passphrase from the askpass program instead of a terminal.
            Some(script) => format!(
                "exec env SSH_ASKPASS={} SSH_ASKPASS_REQUIRE=force DISPLAY=none ssh",
                quote(script)
            ),
            None => "exec ssh".to_owned(),
        };
        let batch = if self.askpass.is_some() {
            ""
        } else {
            " -o BatchMode=yes"
        };
        format!(
            "{prefix} -F /dev/null -i {identity} -o IdentitiesOnly=yes -o IdentityAgent=none \
             -o UserKnownHostsFile={known_hosts} -o GlobalKnownHostsFile=/dev/null \
             -o StrictHostKeyChecking=yes -o UpdateHostKeys=no -o PasswordAuthentication=no \
             -o KbdInteractiveAuthentication=no{batch} -o ConnectTimeout={secs} \
             -o ServerAliveInterval=15 -o ServerAliveCountMax=2 -o LogLevel=ERROR \
             2>>{stderr}",
            stderr = quote(&self.stderr),
            identity = quote(&self.identity),
            known_hosts = quote(&self.known_hosts),
            secs = timeout.as_secs().max(1),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_private_and_the_command_is_strict() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let files = SshFiles::write(
            dir.path(),
            &SshCredentials {
                identity: b"KEY".to_vec(),
                known_hosts: b"host ssh-ed25519 AAAA".to_vec(),
                passphrase: None,
            },
        )
        .unwrap();
        let mode = std::fs::metadata(dir.path().join("ssh/identity"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(
            std::fs::read(dir.path().join("ssh/identity")).unwrap(),
            b"KEY\n"
        );
        let command = files.command(Duration::from_secs(30));
        assert!(command.starts_with("exec ssh -F /dev/null"));
        assert!(command.contains("StrictHostKeyChecking=yes"));
        assert!(command.contains("BatchMode=yes"));
        assert!(command.contains("ConnectTimeout=30"));
        assert!(!command.contains("ASKPASS"));

        let dir = tempfile::tempdir().unwrap();
        let files = SshFiles::write(
            dir.path(),
            &SshCredentials {
                identity: b"KEY\n".to_vec(),
                known_hosts: Vec::new(),
                passphrase: Some("pw".into()),
            },
        )
        .unwrap();
        let command = files.command(Duration::from_secs(5));
        assert!(command.contains("SSH_ASKPASS_REQUIRE=force"));
        assert!(!command.contains("BatchMode"));
        let script = dir.path().join("ssh/askpass");
        let out = std::process::Command::new(&script).output().unwrap();
        assert_eq!(out.stdout, b"pw");
    }
}
