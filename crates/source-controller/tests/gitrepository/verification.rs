//! OpenPGP verification of commits and tags (`spec.verify`): nothing unverified is published.

use driftless_api::source::GitRepository;
use driftless_testenv::git::{GitAuth, GitServer};
use kube::api::Api;
use serde_json::json;

use crate::revision;
use crate::support::*;

/// A GnuPG home with one signing key; `gpg` wrapped so git signs with it.
struct Signer {
    home: tempfile::TempDir,
    fingerprint: String,
    key_id: String,
    public: String,
}

impl Signer {
    fn new(email: &str) -> Self {
        let home = tempfile::Builder::new()
            .prefix("gpg")
            .tempdir_in("/tmp")
            .unwrap();
        let gpg = |args: &[&str]| {
            let output = std::process::Command::new("gpg")
                .env("GNUPGHOME", home.path())
                .args(["--batch", "--pinentry-mode", "loopback", "--passphrase", ""])
                .args(args)
                .output()
                .unwrap();
            assert!(
                output.status.success(),
                "gpg {args:?}: {}",
                String::from_utf8_lossy(&output.stderr)
            );
            String::from_utf8(output.stdout).unwrap()
        };
        gpg(&[
            "--quick-gen-key",
            &format!("Driftless Test <{email}>"),
            "ed25519",
            "sign",
            "never",
        ]);
        let listing = gpg(&["--with-colons", "--list-keys", email]);
        let fingerprint = listing
            .lines()
            .find_map(|l| l.strip_prefix("fpr:"))
            .and_then(|l| l.split(':').find(|f| f.len() == 40))
            .unwrap()
            .to_owned();
        let public = gpg(&["--armor", "--export", email]);
        let key_id = fingerprint[24..].to_owned();
        Self {
            home,
            fingerprint,
            key_id,
            public,
        }
    }

    /// Makes `repo` sign its commits and tags with this key.
    fn sign_in(&self, repo: &driftless_testenv::git::GitRepo) {
        let wrapper = self.home.path().join("gpg-wrapper");
        std::fs::write(
            &wrapper,
            format!("#!/bin/sh\nGNUPGHOME='{}' exec gpg --batch --pinentry-mode loopback --passphrase '' \"$@\"\n", self.home.path().display()),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
        repo.git(&["config", "gpg.program", wrapper.to_str().unwrap()])
            .unwrap();
        repo.git(&["config", "user.signingkey", &self.fingerprint])
            .unwrap();
        repo.git(&["config", "commit.gpgSign", "true"]).unwrap();
        repo.git(&["config", "tag.gpgSign", "true"]).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openpgp_verification_of_commits_and_tags() {
    let (plane, namespace, client) = setup("gitverify").await;
    let server = GitServer::start(GitAuth::default()).unwrap();
    let trusted = Signer::new("trusted@driftless.invalid");
    let stranger = Signer::new("stranger@driftless.invalid");
    let repo = server.create_repo("signed").unwrap();
    trusted.sign_in(&repo);
    let signed = repo
        .commit(&[("app.yaml", "signed: true\n")], "signed")
        .unwrap();
    repo.tag("v1.0.0", Some("signed release")).unwrap();
    repo.push("main").unwrap();
    repo.git(&["config", "commit.gpgSign", "false"]).unwrap();
    repo.git(&["config", "tag.gpgSign", "false"]).unwrap();
    let unsigned = repo
        .commit(&[("app.yaml", "signed: false\n")], "unsigned")
        .unwrap();
    repo.tag("v1.1.0", Some("unsigned release")).unwrap();
    repo.push("unsigned").unwrap();

    let secrets: &[(&str, &[(&str, &str)])] = &[
        ("trusted-keys", &[("author.asc", &trusted.public)]),
        ("stranger-keys", &[("author.asc", &stranger.public)]),
    ];
    create_secrets(&client, &namespace, secrets).await;
    let controller = SourceController::start(plane, &namespace, &[]);
    let api: Api<GitRepository> = Api::namespaced(client.clone(), &namespace);
    let url = server.url("signed");
    let main = json!({"branch": "main"});
    // What each object follows, how it verifies it, and with which keys.
    for (name, reference, mode, keys) in [
        ("head", main.clone(), "HEAD", "trusted-keys"),
        (
            "tag",
            json!({"tag": "v1.0.0"}),
            "TagAndHEAD",
            "trusted-keys",
        ),
        ("untrusted", main.clone(), "HEAD", "stranger-keys"),
        (
            "unsigned",
            json!({"branch": "unsigned"}),
            "HEAD",
            "trusted-keys",
        ),
        (
            "unsigned-tag",
            json!({"tag": "v1.1.0"}),
            "Tag",
            "trusted-keys",
        ),
        ("tag-on-branch", main.clone(), "Tag", "trusted-keys"),
        ("no-keys", main.clone(), "HEAD", "missing"),
    ] {
        let spec = json!({"ref": reference, "verify": {"mode": mode, "secretRef": {"name": keys}}});
        create_git_repository(&api, name, &url, spec).await;
    }

    let verified_message = |object: &GitRepository| {
        object
            .status
            .as_ref()
            .and_then(|s| s.conditions.iter().find(|c| c.type_ == "SourceVerified"))
            .map(|c| (c.status.clone(), c.reason.clone(), c.message.clone()))
            .unwrap()
    };
    let head = wait_ready(&api, "head", &controller).await;
    assert_eq!(revision(&head), format!("main@sha1:{signed}"));
    assert_eq!(
        verified_message(&head),
        (
            "True".to_owned(),
            "Succeeded".to_owned(),
            format!(
                "verified signature of\n\t- commit '{signed}' with key '{}'",
                trusted.key_id
            )
        )
    );
    assert_eq!(
        head.status.as_ref().unwrap().source_verification_mode,
        Some(driftless_api::source::GitVerificationMode::Head)
    );
    let tag = wait_ready(&api, "tag", &controller).await;
    let (status, _, message) = verified_message(&tag);
    assert_eq!(status, "True");
    assert!(
        message.contains("- tag '") && message.contains(&format!("- commit '{signed}'")),
        "{message}"
    );

    for (name, reason, fragment) in [
        (
            "untrusted",
            "InvalidCommitSignature",
            "no trusted key made its signature",
        ),
        (
            "unsigned",
            "InvalidCommitSignature",
            &format!("commit '{unsigned}' failed: it has no signature"),
        ),
        ("unsigned-tag", "InvalidTagSignature", "it has no signature"),
        (
            "tag-on-branch",
            "InvalidTagSignature",
            "a tag reference is not specified",
        ),
        ("no-keys", "VerificationError", "missing"),
    ] {
        let object = wait_not_ready(&api, name, &controller, reason).await;
        let (status, condition_reason, message) = verified_message(&object);
        assert_eq!(
            (status.as_str(), condition_reason.as_str()),
            ("False", reason),
            "{name}"
        );
        assert!(message.contains(fragment), "{name}: {message}");
        // Nothing unverified is ever published.
        assert!(object.status.as_ref().unwrap().artifact.is_none(), "{name}");
        assert_final_status(name, &object);
    }
}
