//! Child processes that cannot outlive the test binary.
//!
//! `PR_SET_PDEATHSIG` fires when the *thread* that forked the child exits, not the process.
//! Test threads come and go, so every child is forked from one spawner thread that lives as
//! long as the process; if the test binary is killed, the kernel kills the children too.

use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Sender, channel};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::{Error, Result};

type SpawnRequest = (Command, Sender<io::Result<Child>>);

fn spawner() -> &'static Mutex<Sender<SpawnRequest>> {
    static SPAWNER: OnceLock<Mutex<Sender<SpawnRequest>>> = OnceLock::new();
    SPAWNER.get_or_init(|| {
        let (requests, incoming) = channel::<SpawnRequest>();
        std::thread::Builder::new()
            .name("testenv-spawner".into())
            .spawn(move || {
                for (mut command, reply) in incoming {
                    // The receiver only goes away if the requester gave up; nothing to do then.
                    let _ = reply.send(command.spawn());
                }
            })
            .expect("spawning the testenv spawner thread");
        Mutex::new(requests)
    })
}

/// A running control-plane component whose output goes to a log file.
pub struct Process {
    pub name: &'static str,
    child: Child,
    log_path: PathBuf,
}

impl Process {
    pub fn spawn(name: &'static str, mut command: Command, log_path: &Path) -> Result<Self> {
        let io_err = |what: &str, e| Error::Io(format!("{what} for {name}"), e);
        let log = std::fs::File::create(log_path).map_err(|e| io_err("creating log", e))?;
        let log_err = log.try_clone().map_err(|e| io_err("cloning log", e))?;
        command.stdin(Stdio::null()).stdout(log).stderr(log_err);
        let parent = std::process::id();
        // SAFETY: only async-signal-safe calls (prctl, getppid, _exit) run between fork and exec.
        unsafe {
            command.pre_exec(move || {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(io::Error::last_os_error());
                }
                // The parent may have died before prctl took effect; then nobody would reap us.
                if u32::try_from(libc::getppid()).ok() != Some(parent) {
                    libc::_exit(1);
                }
                Ok(())
            });
        }
        let (reply, response) = channel();
        spawner()
            .lock()
            .map_err(|_| io_err("spawner", io::Error::other("poisoned")))?
            .send((command, reply))
            .map_err(|_| io_err("spawner", io::Error::other("spawner thread gone")))?;
        let child = response
            .recv()
            .map_err(|_| io_err("spawner", io::Error::other("no reply")))?
            .map_err(|e| io_err("starting", e))?;
        Ok(Self {
            name,
            child,
            log_path: log_path.to_owned(),
        })
    }

    /// Fails with the end of the log if the process has exited.
    pub fn ensure_running(&mut self) -> Result<()> {
        match self.child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => Err(Error::Exited {
                component: self.name,
                status: status.to_string(),
                log: self.log_tail(40),
            }),
            Err(e) => Err(Error::Io(format!("waiting for {}", self.name), e)),
        }
    }

    /// The last `lines` lines of the component's output.
    pub fn log_tail(&self, lines: usize) -> String {
        log_tail(&self.log_path, lines)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits up to `timeout` for the process to exit without signalling it.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM, then SIGKILL if it has not exited within `grace`. Returns the exit status if
    /// the process exited on its own after SIGTERM (None if it had to be killed).
    pub fn stop(&mut self, grace: Duration) -> Option<std::process::ExitStatus> {
        if let Ok(Some(status)) = self.child.try_wait() {
            return Some(status);
        }
        if let Ok(pid) = i32::try_from(self.child.id()) {
            // SAFETY: plain kill(2) on our own child's pid, which we have not reaped yet.
            unsafe { libc::kill(pid, libc::SIGTERM) };
        }
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        None
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.stop(Duration::from_secs(5));
    }
}

pub(crate) fn log_tail(path: &Path, lines: usize) -> String {
    let Ok(mut file) = std::fs::File::open(path) else {
        return String::new();
    };
    // The end of a log is what explains a failure; 64 KiB holds far more than 40 lines.
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = file.seek(SeekFrom::Start(len.saturating_sub(64 * 1024)));
    let mut text = String::new();
    let _ = file.read_to_string(&mut text);
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_terminates_and_log_tail_reads_output() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("sh.log");
        let mut command = Command::new("sh");
        command.args(["-c", "echo one; echo two; exec sleep 600"]);
        let mut process = Process::spawn("sh", command, &log).unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while process.log_tail(5) != "one\ntwo" && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(process.log_tail(5), "one\ntwo");
        assert_eq!(process.log_tail(1), "two");
        process.ensure_running().unwrap();
        assert!(
            process
                .stop(Duration::from_secs(5))
                .is_some_and(|s| !s.success())
        );
        let err = process.ensure_running().unwrap_err().to_string();
        assert!(err.contains("signal: 15"), "{err}");
    }
}
