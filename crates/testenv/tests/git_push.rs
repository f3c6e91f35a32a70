//! The Git server takes pushes over HTTP only when started with push credentials, and only
//! from clients that present them.

use std::path::Path;
use std::process::{Command, Output};

use driftless_testenv::git::{GitAuth, GitServer};

/// Runs the `git` CLI without user configuration, credential helpers or prompts.
fn git(dir: &Path, args: &[&str]) -> Output {
    Command::new("git")
        .current_dir(dir)
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_TERMINAL_PROMPT", "0")
        .env_remove("GIT_ASKPASS")
        .env_remove("SSH_ASKPASS")
        .env("GIT_AUTHOR_NAME", "Pusher")
        .env("GIT_AUTHOR_EMAIL", "pusher@driftless.invalid")
        .env("GIT_COMMITTER_NAME", "Pusher")
        .env("GIT_COMMITTER_EMAIL", "pusher@driftless.invalid")
        .output()
        .unwrap()
}

fn ok(output: Output) -> String {
    assert!(
        output.status.success(),
        "git failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// Clones `url` into a new directory and commits one file there.
fn clone_and_commit(url: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    ok(git(dir.path(), &["clone", "--quiet", url, "clone"]));
    let clone = dir.path().join("clone");
    std::fs::write(clone.join("app.yaml"), "b: 2\n").unwrap();
    ok(git(
        &clone,
        &["commit", "--quiet", "--all", "-m", "Change b"],
    ));
    dir
}

fn with_credentials(url: &str, user: &str, password: &str) -> String {
    url.replacen("http://", &format!("http://{user}:{password}@"), 1)
}

#[test]
fn a_push_with_the_push_credentials_lands_and_one_without_is_refused() {
    let server = GitServer::start_accepting_pushes(GitAuth::default(), "pusher", "s3cret").unwrap();
    let repo = server.create_repo("app").unwrap();
    repo.commit(&[("app.yaml", "b: 1\n")], "Add app").unwrap();
    repo.push("main").unwrap();
    let url = server.url("app");

    // Reads stay open; the clone's remote has no credentials.
    let dir = clone_and_commit(&url);
    let clone = dir.path().join("clone");
    let pushed = ok(git(&clone, &["rev-parse", "HEAD"]));
    let refused = git(&clone, &["push", "--quiet", "origin", "HEAD:main"]);
    assert!(
        !refused.status.success(),
        "a push without credentials landed"
    );
    let wrong = with_credentials(&url, "pusher", "wrong");
    let refused = git(&clone, &["push", "--quiet", &wrong, "HEAD:main"]);
    assert!(
        !refused.status.success(),
        "a push with a wrong password landed"
    );
    assert!(
        server
            .requests()
            .iter()
            .any(|r| r.path.ends_with("/info/refs") && r.status == 401),
        "{:?}",
        server.requests()
    );
    assert_ne!(served_main(&repo), pushed);

    let authorized = with_credentials(&url, "pusher", "s3cret");
    ok(git(&clone, &["push", "--quiet", &authorized, "HEAD:main"]));
    assert_eq!(served_main(&repo), pushed);
}

/// The commit `main` points at in the served (bare) repository.
fn served_main(repo: &driftless_testenv::git::GitRepo) -> String {
    let line = repo.git(&["ls-remote", "origin", "main"]).unwrap();
    line.split_whitespace()
        .next()
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn without_push_credentials_pushes_are_refused_as_before() {
    let server = GitServer::start(GitAuth::default()).unwrap();
    let repo = server.create_repo("app").unwrap();
    repo.commit(&[("app.yaml", "b: 1\n")], "Add app").unwrap();
    repo.push("main").unwrap();
    let url = server.url("app");
    let dir = clone_and_commit(&url);
    let refused = git(
        &dir.path().join("clone"),
        &["push", "--quiet", "origin", "HEAD:main"],
    );
    assert!(!refused.status.success(), "a push landed");
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("403"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
}
