//! The kept clone, commits and push against real servers: `git http-backend` behind basic
//! auth and OpenSSH's sshd; results are checked with the `git` CLI.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use driftless_git::{
    CommitRequest, CommitSigner, Credentials, Endpoint, GitRef, LocalClone, Person, PushError,
    RefUpdate, Transport, commit_changes, push, read_files,
};
use driftless_testenv::git::{GitAuth, GitRepo, GitServer};
use gix::ObjectId;

const USER: &str = "bot";
const PASSWORD: &str = "s3cret";

fn runtime() -> tokio::runtime::Runtime {
    let _ = rustls::crypto::ring::default_provider().install_default();
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap()
}

fn http_credentials(user: &str, password: &str) -> Credentials {
    let data = [("username", user), ("password", password)]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.as_bytes().to_vec()))
        .collect();
    Credentials::from_secret(Transport::Http, &data).unwrap()
}

fn person() -> Person {
    Person {
        name: "Image Bot".into(),
        email: "bot@example.com".into(),
        time: 1_700_000_000,
        utc_offset: 3600,
    }
}

/// Commits `files` on top of `parent` in the clone.
fn commit(
    clone: &LocalClone,
    parent: ObjectId,
    files: &[(&str, &str)],
    message: &str,
    signer: Option<&CommitSigner>,
) -> Option<ObjectId> {
    let changes: BTreeMap<String, Vec<u8>> = files
        .iter()
        .map(|(path, text)| ((*path).to_owned(), text.as_bytes().to_vec()))
        .collect();
    let author = person();
    commit_changes(
        clone.repo(),
        &CommitRequest {
            parent,
            changes: &changes,
            author: &author,
            committer: &author,
            message,
            signer,
        },
    )
    .unwrap()
}

fn git_in(dir: &Path, args: &[&str]) -> String {
    driftless_testenv::git::git(dir, args).unwrap()
}

fn sync(dir: &Path, endpoint: &Endpoint<'_>, branch: &str) -> LocalClone {
    LocalClone::sync(
        dir,
        endpoint,
        &GitRef::Branch(branch.into()),
        &AtomicBool::new(false),
    )
    .unwrap()
}

struct Fixture {
    server: GitServer,
    repo: GitRepo,
    url: String,
    credentials: Credentials,
    runtime: tokio::runtime::Runtime,
    work: tempfile::TempDir,
}

impl Fixture {
    /// A server accepting pushes from bot/s3cret, and `app.git` with `deploy/app.yaml`, an
    /// executable `deploy/run.sh` and a README on `main`.
    fn new() -> Self {
        let server = GitServer::start_accepting_pushes(GitAuth::default(), USER, PASSWORD).unwrap();
        let repo = server.create_repo("app").unwrap();
        repo.commit(
            &[
                ("deploy/app.yaml", "image: app:1.0.0\n"),
                ("deploy/run.sh", "#!/bin/sh\n"),
                ("README.md", "app\n"),
            ],
            "initial",
        )
        .unwrap();
        {
            use std::os::unix::fs::PermissionsExt;
            let script = repo.work_dir().join("deploy/run.sh");
            std::fs::set_permissions(script, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        repo.commit(&[], "executable").unwrap();
        repo.push("main").unwrap();
        Self {
            url: server.url("app"),
            server,
            repo,
            credentials: http_credentials(USER, PASSWORD),
            runtime: runtime(),
            work: tempfile::tempdir().unwrap(),
        }
    }

    fn endpoint(&self) -> Endpoint<'_> {
        Endpoint {
            url: &self.url,
            credentials: &self.credentials,
            timeout: Duration::from_secs(30),
            runtime: self.runtime.handle(),
        }
    }

    fn clone_dir(&self) -> std::path::PathBuf {
        self.work.path().join("clone")
    }

    /// `git` in the served bare repository.
    fn remote_git(&self, args: &[&str]) -> String {
        git_in(&self.repo.bare, args)
    }
}

#[test]
fn clone_commit_push_over_http_then_fetch_incrementally() {
    let fixture = Fixture::new();
    let endpoint = fixture.endpoint();
    let remote_main = fixture.remote_git(&["rev-parse", "main"]);

    let clone = sync(&fixture.clone_dir(), &endpoint, "main");
    assert!(clone.recloned());
    assert_eq!(clone.head().to_string(), remote_main);
    assert_eq!(clone.reference(), "refs/heads/main");
    let files = read_files(clone.repo(), clone.head(), "./deploy/").unwrap();
    assert_eq!(
        files.keys().collect::<Vec<_>>(),
        ["deploy/app.yaml", "deploy/run.sh"]
    );
    assert_eq!(files["deploy/app.yaml"], b"image: app:1.0.0\n");

    // Writing what is already there is no commit.
    assert_eq!(
        commit(
            &clone,
            clone.head(),
            &[("deploy/app.yaml", "image: app:1.0.0\n")],
            "noop",
            None
        ),
        None
    );
    let new = commit(
        &clone,
        clone.head(),
        &[
            ("deploy/app.yaml", "image: app:1.1.0\n"),
            ("deploy/run.sh", "#!/bin/sh\nexec app\n"),
            ("deploy/new/extra.yaml", "a: 1\n"),
        ],
        "Update app to 1.1.0\n\nBy image automation.\n",
        None,
    )
    .unwrap();
    push(
        clone.repo(),
        &endpoint,
        &[RefUpdate::fast_forward("main", new, clone.head())],
        &[],
    )
    .unwrap();

    assert_eq!(fixture.remote_git(&["rev-parse", "main"]), new.to_string());
    assert_eq!(
        fixture.remote_git(&["log", "-1", "--format=%an <%ae>|%at %ai|%s|%P", "main"]),
        format!(
            "Image Bot <bot@example.com>|1700000000 2023-11-14 23:13:20 +0100|Update app to 1.1.0|{remote_main}"
        )
    );
    assert_eq!(
        fixture.remote_git(&["show", "main:deploy/app.yaml"]),
        "image: app:1.1.0"
    );
    assert_eq!(fixture.remote_git(&["show", "main:README.md"]), "app");
    assert_eq!(
        fixture.remote_git(&["show", "main:deploy/new/extra.yaml"]),
        "a: 1"
    );
    // The executable bit survives the rewrite.
    assert!(
        fixture
            .remote_git(&["ls-tree", "main", "deploy/run.sh"])
            .starts_with("100755 ")
    );
    fixture.remote_git(&["fsck", "--strict"]);

    // The next run reuses the clone: it lists refs and, with nothing new, fetches no pack.
    fixture.server.clear_requests();
    let again = sync(&fixture.clone_dir(), &endpoint, "main");
    assert!(!again.recloned());
    assert_eq!(again.head(), new);
    let commands: Vec<Option<String>> = fixture
        .server
        .requests()
        .into_iter()
        .map(|r| r.command)
        .collect();
    assert!(commands.contains(&Some("ls-refs".into())), "{commands:?}");
    assert!(!commands.contains(&Some("fetch".into())), "{commands:?}");

    // A new remote commit arrives incrementally into the same clone.
    fixture
        .repo
        .git(&["pull", "--quiet", "origin", "main"])
        .unwrap();
    let upstream = fixture
        .repo
        .commit(&[("README.md", "app v2\n")], "readme")
        .unwrap();
    fixture.repo.push("main").unwrap();
    let third = sync(&fixture.clone_dir(), &endpoint, "main");
    assert!(!third.recloned());
    assert_eq!(third.head().to_string(), upstream);

    // A damaged clone directory is replaced by a fresh clone.
    std::fs::write(fixture.clone_dir().join("HEAD"), "garbage").unwrap();
    std::fs::remove_dir_all(fixture.clone_dir().join("objects")).unwrap();
    let fresh = sync(&fixture.clone_dir(), &endpoint, "main");
    assert!(fresh.recloned());
    assert_eq!(fresh.head().to_string(), upstream);
}

#[test]
fn a_moved_remote_is_a_race_and_the_retry_succeeds() {
    let fixture = Fixture::new();
    let endpoint = fixture.endpoint();
    let clone = sync(&fixture.clone_dir(), &endpoint, "main");
    let ours = commit(
        &clone,
        clone.head(),
        &[("deploy/app.yaml", "image: app:2\n")],
        "ours",
        None,
    )
    .unwrap();

    // Someone else pushes first.
    let theirs = fixture
        .repo
        .commit(&[("README.md", "theirs\n")], "theirs")
        .unwrap();
    fixture.repo.push("main").unwrap();

    let error = push(
        clone.repo(),
        &endpoint,
        &[RefUpdate::fast_forward("main", ours, clone.head())],
        &[],
    )
    .unwrap_err();
    match &error {
        PushError::Race { reference, remote } => {
            assert_eq!(reference, "refs/heads/main");
            assert_eq!(remote.map(|id| id.to_string()), Some(theirs.clone()));
        }
        other => panic!("expected a race, got {other:?}"),
    }
    assert_eq!(fixture.remote_git(&["rev-parse", "main"]), theirs);

    // Fetch, re-apply, push again.
    let clone = sync(&fixture.clone_dir(), &endpoint, "main");
    assert_eq!(clone.head().to_string(), theirs);
    let retry = commit(
        &clone,
        clone.head(),
        &[("deploy/app.yaml", "image: app:2\n")],
        "ours",
        None,
    )
    .unwrap();
    push(
        clone.repo(),
        &endpoint,
        &[RefUpdate::fast_forward("main", retry, clone.head())],
        &[],
    )
    .unwrap();
    assert_eq!(
        fixture.remote_git(&["log", "--format=%s", "-3", "main"]),
        "ours\ntheirs\nexecutable"
    );
    assert_eq!(fixture.remote_git(&["show", "main:README.md"]), "theirs");
}

#[test]
fn force_pushes_a_separate_branch_and_refspecs() {
    let fixture = Fixture::new();
    let endpoint = fixture.endpoint();
    let clone = sync(&fixture.clone_dir(), &endpoint, "main");
    let main = clone.head();

    let first = commit(
        &clone,
        main,
        &[("deploy/app.yaml", "image: app:3\n")],
        "first",
        None,
    )
    .unwrap();
    push(
        clone.repo(),
        &endpoint,
        &[RefUpdate::force("auto", first)],
        &[],
    )
    .unwrap();
    assert_eq!(
        fixture.remote_git(&["rev-parse", "auto"]),
        first.to_string()
    );

    // The second run starts from main again: not a fast-forward of `auto`.
    let second = commit(
        &clone,
        main,
        &[("deploy/app.yaml", "image: app:4\n")],
        "second",
        None,
    )
    .unwrap();
    push(
        clone.repo(),
        &endpoint,
        &[RefUpdate::force("auto", second)],
        &[],
    )
    .unwrap();
    assert_eq!(
        fixture.remote_git(&["rev-parse", "auto"]),
        second.to_string()
    );
    assert_eq!(fixture.remote_git(&["rev-parse", "main"]), main.to_string());

    // A refspec without `+` must fast-forward, like `git push`.
    let third = commit(
        &clone,
        main,
        &[("deploy/app.yaml", "image: app:5\n")],
        "third",
        None,
    )
    .unwrap();
    let plain = RefUpdate::from_refspec(clone.repo(), "HEAD:auto", third).unwrap();
    match push(clone.repo(), &endpoint, &[plain], &[]).unwrap_err() {
        PushError::Rejected {
            reference, reason, ..
        } => {
            assert_eq!(reference, "refs/heads/auto");
            assert!(reason.contains("non-fast-forward"), "{reason}");
        }
        other => panic!("expected a rejection, got {other:?}"),
    }
    let forced =
        RefUpdate::from_refspec(clone.repo(), &format!("+{third}:refs/heads/auto"), main).unwrap();
    push(clone.repo(), &endpoint, &[forced], &[]).unwrap();
    assert_eq!(
        fixture.remote_git(&["rev-parse", "auto"]),
        third.to_string()
    );
    // A fast-forward refspec to a new branch.
    let release = RefUpdate::from_refspec(clone.repo(), "HEAD:release", third).unwrap();
    push(clone.repo(), &endpoint, &[release], &[]).unwrap();
    assert_eq!(
        fixture.remote_git(&["rev-parse", "release"]),
        third.to_string()
    );
    assert!(RefUpdate::from_refspec(clone.repo(), "HEAD", main).is_err());
}

#[test]
fn a_wrong_password_is_an_authentication_error() {
    let fixture = Fixture::new();
    let clone = sync(&fixture.clone_dir(), &fixture.endpoint(), "main");
    let new = commit(&clone, clone.head(), &[("README.md", "x\n")], "x", None).unwrap();
    let wrong = http_credentials(USER, "wrong");
    let endpoint = Endpoint {
        credentials: &wrong,
        ..fixture.endpoint()
    };
    let error = push(
        clone.repo(),
        &endpoint,
        &[RefUpdate::fast_forward("main", new, clone.head())],
        &[],
    )
    .unwrap_err();
    assert!(error.is_authentication(), "{error:?}");
    assert_eq!(
        fixture.remote_git(&["rev-parse", "main"]),
        clone.head().to_string()
    );
}

fn install_hook(bare: &Path, name: &str, script: &str) {
    use std::os::unix::fs::PermissionsExt;
    let hook = bare.join("hooks").join(name);
    std::fs::create_dir_all(hook.parent().unwrap()).unwrap();
    std::fs::write(&hook, script).unwrap();
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn a_declining_hook_is_a_rejection_with_its_message() {
    let fixture = Fixture::new();
    install_hook(
        &fixture.repo.bare,
        "pre-receive",
        "#!/bin/sh\necho 'main is protected: open a pull request' >&2\nexit 1\n",
    );
    let endpoint = fixture.endpoint();
    let clone = sync(&fixture.clone_dir(), &endpoint, "main");
    let new = commit(&clone, clone.head(), &[("README.md", "x\n")], "x", None).unwrap();
    let error = push(
        clone.repo(),
        &endpoint,
        &[RefUpdate::fast_forward("main", new, clone.head())],
        &[],
    )
    .unwrap_err();
    match &error {
        PushError::Rejected {
            reference,
            reason,
            messages,
        } => {
            assert_eq!(reference, "refs/heads/main");
            assert!(reason.contains("pre-receive hook declined"), "{reason}");
            assert!(
                messages.contains("main is protected: open a pull request"),
                "{messages}"
            );
        }
        other => panic!("expected a rejection, got {other:?}"),
    }
    assert!(error.to_string().contains("open a pull request"));
}

#[test]
fn push_options_reach_the_server_hooks() {
    let fixture = Fixture::new();
    let seen = fixture.work.path().join("options");
    install_hook(
        &fixture.repo.bare,
        "pre-receive",
        &format!(
            "#!/bin/sh\necho \"$GIT_PUSH_OPTION_COUNT $GIT_PUSH_OPTION_0 $GIT_PUSH_OPTION_1\" > '{}'\n",
            seen.display()
        ),
    );
    let endpoint = fixture.endpoint();
    let clone = sync(&fixture.clone_dir(), &endpoint, "main");
    let new = commit(&clone, clone.head(), &[("README.md", "x\n")], "x", None).unwrap();
    let update = [RefUpdate::fast_forward("main", new, clone.head())];
    let options = ["ci.skip".to_owned(), "merge_request.create".to_owned()];
    // Servers that do not advertise push options get none.
    assert!(matches!(
        push(clone.repo(), &endpoint, &update, &options).unwrap_err(),
        PushError::PushOptionsUnsupported
    ));
    fixture.remote_git(&["config", "receive.advertisePushOptions", "true"]);
    push(clone.repo(), &endpoint, &update, &options).unwrap();
    assert_eq!(
        std::fs::read_to_string(&seen).unwrap(),
        "2 ci.skip merge_request.create\n"
    );
}

fn run(command: &mut Command) -> String {
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "{command:?}: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr)
}

/// `git verify-commit` in the served repository, with `config` and `env`.
fn verify_commit(bare: &Path, id: ObjectId, config: &[&str], env: &[(&str, &Path)]) -> String {
    let mut command = Command::new("git");
    command
        .current_dir(bare)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null");
    for setting in config {
        command.args(["-c", setting]);
    }
    for (key, value) in env {
        command.env(key, value);
    }
    run(command.args(["verify-commit", "-v", &id.to_string()]))
}

#[test]
fn signed_commits_verify_with_git() {
    let fixture = Fixture::new();
    let endpoint = fixture.endpoint();
    let clone = sync(&fixture.clone_dir(), &endpoint, "main");
    let keys = tempfile::tempdir().unwrap();

    // OpenPGP: a passphrase-protected key made by gpg.
    let gnupg = keys.path().join("gnupg");
    std::fs::create_dir(&gnupg).unwrap();
    let gpg = |args: &[&str]| {
        run(Command::new("gpg")
            .env("GNUPGHOME", &gnupg)
            .args([
                "--batch",
                "--pinentry-mode",
                "loopback",
                "--passphrase",
                "pgp-pass",
            ])
            .args(args))
    };
    gpg(&[
        "--quick-gen-key",
        "Image Bot <bot@example.com>",
        "ed25519",
        "sign",
        "never",
    ]);
    let mut export = Command::new("gpg");
    export
        .env("GNUPGHOME", &gnupg)
        .args([
            "--batch",
            "--pinentry-mode",
            "loopback",
            "--passphrase",
            "pgp-pass",
        ])
        .args(["--armor", "--export-secret-keys", "bot@example.com"]);
    let armored = export.output().unwrap().stdout;
    assert!(CommitSigner::openpgp(&armored, Some("wrong")).is_err());
    let pgp_signer = CommitSigner::openpgp(&armored, Some("pgp-pass")).unwrap();
    let pgp_signed = commit(
        &clone,
        clone.head(),
        &[("deploy/app.yaml", "image: app:6\n")],
        "signed with OpenPGP",
        Some(&pgp_signer),
    )
    .unwrap();

    // SSH: an encrypted ed25519 key made by ssh-keygen.
    let ssh_key =
        driftless_testenv::ssh::generate_key(keys.path(), "signing", Some("ssh-pass")).unwrap();
    assert!(CommitSigner::ssh(ssh_key.private.as_bytes(), None).is_err());
    let ssh_signer = CommitSigner::ssh(ssh_key.private.as_bytes(), Some("ssh-pass")).unwrap();
    let ssh_signed = commit(
        &clone,
        pgp_signed,
        &[("deploy/app.yaml", "image: app:7\n")],
        "signed with SSH",
        Some(&ssh_signer),
    )
    .unwrap();
    push(
        clone.repo(),
        &endpoint,
        &[RefUpdate::fast_forward("main", ssh_signed, clone.head())],
        &[],
    )
    .unwrap();

    let report = verify_commit(
        &fixture.repo.bare,
        pgp_signed,
        &[],
        &[("GNUPGHOME", &gnupg)],
    );
    assert!(report.contains("Good signature"), "{report}");
    let allowed = keys.path().join("allowed_signers");
    let public = ssh_key
        .public
        .split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ");
    std::fs::write(&allowed, format!("bot@example.com {public}\n")).unwrap();
    let report = verify_commit(
        &fixture.repo.bare,
        ssh_signed,
        &[
            "gpg.format=ssh",
            &format!("gpg.ssh.allowedSignersFile={}", allowed.display()),
        ],
        &[],
    );
    assert!(report.contains("Good \"git\" signature"), "{report}");
    // A signature is bound to the content: the unsigned parent does not verify.
    let unsigned = Command::new("git")
        .current_dir(&fixture.repo.bare)
        .args(["verify-commit", &clone.head().to_string()])
        .output()
        .unwrap();
    assert!(!unsigned.status.success());
}

#[test]
fn push_over_ssh() {
    let runtime = runtime();
    let keys = tempfile::tempdir().unwrap();
    let client = driftless_testenv::ssh::generate_key(keys.path(), "client", None).unwrap();
    let server = driftless_testenv::ssh::SshGitServer::start(&[client.public.trim()]).unwrap();
    let repo = server.create_repo("app").unwrap();
    repo.commit(&[("deploy/app.yaml", "image: app:1\n")], "initial")
        .unwrap();
    repo.push("main").unwrap();
    let url = server.url(&repo);
    let data = [
        ("identity", client.private.clone()),
        ("known_hosts", server.known_hosts()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.into_bytes()))
    .collect();
    let credentials = Credentials::from_secret(Transport::Ssh, &data).unwrap();
    let endpoint = Endpoint {
        url: &url,
        credentials: &credentials,
        timeout: Duration::from_secs(30),
        runtime: runtime.handle(),
    };
    let dir = keys.path().join("clone");
    let clone = sync(&dir, &endpoint, "main");
    let new = commit(
        &clone,
        clone.head(),
        &[("deploy/app.yaml", "image: app:2\n")],
        "over ssh",
        None,
    )
    .unwrap();
    push(
        clone.repo(),
        &endpoint,
        &[RefUpdate::fast_forward("main", new, clone.head())],
        &[],
    )
    .unwrap_or_else(|e| panic!("{e}\nsshd log:\n{}", server.log()));
    assert_eq!(git_in(&repo.bare, &["rev-parse", "main"]), new.to_string());
    assert_eq!(
        git_in(&repo.bare, &["show", "main:deploy/app.yaml"]),
        "image: app:2"
    );
    // A stale expectation over SSH is a race too.
    let error = push(
        clone.repo(),
        &endpoint,
        &[RefUpdate::fast_forward("main", new, clone.head())],
        &[],
    );
    assert!(
        error.is_ok(),
        "an update the remote already has is a no-op: {error:?}"
    );
    let other = commit(
        &clone,
        clone.head(),
        &[("deploy/app.yaml", "image: app:3\n")],
        "stale",
        None,
    )
    .unwrap();
    assert!(matches!(
        push(
            clone.repo(),
            &endpoint,
            &[RefUpdate::fast_forward("main", other, clone.head())],
            &[],
        ),
        Err(PushError::Race { .. })
    ));
}
