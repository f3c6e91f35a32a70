//! Push with git's receive-pack protocol (v0/v1; servers speak no other for pushes) over
//! smart HTTP(S) and SSH, on gix's transports: read the ref advertisement, check the
//! expected old ids, send the update commands, push options and a pack of the new objects,
//! and read back the server's report-status. Everything here blocks.

mod pack;
mod report;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::sync::{Arc, Mutex};

use gix::ObjectId;
use gix::protocol::transport::client::blocking_io::{ExtendedBufRead, ssh};
use gix::protocol::transport::client::{MessageKind, WriteMode};
use gix::protocol::transport::{Protocol, Service};

use crate::auth::Transport;
use crate::session::{BoxedTransport, Connector, check_url};
use crate::{Endpoint, GitError, error_chain, looks_unauthenticated};
use report::{FLUSH, RefStatus, parse_report, pkt_line, split_pkt_lines};

/// How the remote ref may be changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpdateMode {
    /// Only if the remote ref still points at this commit (`None`: it must not exist yet).
    /// Anything else is a [`PushError::Race`].
    Expect(Option<ObjectId>),
    /// Whatever the remote ref points at, as `git push --force`.
    Force,
    /// From whatever the remote ref points at; the server refuses a non-fast-forward, as for
    /// a plain `git push`.
    FastForward,
}

/// One ref to update on the remote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefUpdate {
    /// The full ref name on the remote, e.g. `refs/heads/main`.
    pub remote_ref: String,
    /// The local commit the remote ref is set to.
    pub new: ObjectId,
    pub mode: UpdateMode,
}

impl RefUpdate {
    /// Moves `branch` from `expected_old` (what the clone fetched) to `new`.
    pub fn fast_forward(branch: &str, new: ObjectId, expected_old: ObjectId) -> Self {
        Self {
            remote_ref: branch_ref(branch),
            new,
            mode: UpdateMode::Expect(Some(expected_old)),
        }
    }

    /// Sets `branch` to `new` whatever it pointed at (a separate push branch).
    pub fn force(branch: &str, new: ObjectId) -> Self {
        Self {
            remote_ref: branch_ref(branch),
            new,
            mode: UpdateMode::Force,
        }
    }

    /// A refspec `[+]src:dst` as `git push` reads it: `src` is a local ref, `HEAD` of the
    /// caller's choice (`head`), or a commit id; `dst` a full ref or a branch name; `+`
    /// forces.
    pub fn from_refspec(
        repo: &gix::Repository,
        refspec: &str,
        head: ObjectId,
    ) -> Result<Self, PushError> {
        let invalid = |reason: &str| PushError::InvalidRefspec {
            refspec: refspec.to_owned(),
            reason: reason.to_owned(),
        };
        let (force, spec) = match refspec.strip_prefix('+') {
            Some(rest) => (true, rest),
            None => (false, refspec),
        };
        let (src, dst) = spec
            .split_once(':')
            .ok_or_else(|| invalid("expected src:dst"))?;
        if src.is_empty() || dst.is_empty() || dst.contains(['*', ':', ' ']) {
            return Err(invalid("both sides must name one ref"));
        }
        let new = if src == "HEAD" {
            head
        } else if let Ok(id) = ObjectId::from_hex(src.as_bytes()) {
            id
        } else {
            repo.find_reference(src)
                .map_err(|e| invalid(&format!("no local ref '{src}': {e}")))?
                .peel_to_commit()
                .map_err(|e| invalid(&format!("'{src}' is not a commit: {e}")))?
                .id
        };
        let remote_ref = if dst.starts_with("refs/") {
            dst.to_owned()
        } else {
            branch_ref(dst)
        };
        Ok(Self {
            remote_ref,
            new,
            mode: if force {
                UpdateMode::Force
            } else {
                UpdateMode::FastForward
            },
        })
    }
}

fn branch_ref(branch: &str) -> String {
    if branch.starts_with("refs/") {
        branch.to_owned()
    } else {
        format!("refs/heads/{branch}")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PushError {
    /// The URL, the credentials or the connection failed; `is_authentication` tells refusals.
    #[error(transparent)]
    Connect(#[from] GitError),
    /// The remote ref is not where the caller expected: fetch, re-apply, push again.
    #[error("'{reference}' moved on the remote (now {}); fetch and try again", display_id(.remote))]
    Race {
        reference: String,
        /// Where the remote ref points now, when the server told us (`None`: deleted or
        /// unknown).
        remote: Option<ObjectId>,
    },
    /// The server refused the update: a protected branch, a hook, a non-fast-forward.
    #[error("the remote refused to update '{reference}': {reason}{}", messages_suffix(.messages))]
    Rejected {
        reference: String,
        reason: String,
        /// What the server printed (hook output), one line each.
        messages: String,
    },
    #[error("the remote could not store the pushed objects: {0}")]
    Unpack(String),
    #[error("invalid push refspec '{refspec}': {reason}")]
    InvalidRefspec { refspec: String, reason: String },
    #[error("the remote does not support push options")]
    PushOptionsUnsupported,
    #[error("building the pack: {0}")]
    Pack(String),
    #[error("push to '{url}' failed: {message}")]
    Protocol { url: String, message: String },
}

fn display_id(id: &Option<ObjectId>) -> String {
    id.map_or_else(|| "unknown".to_owned(), |id| id.to_string())
}

fn messages_suffix(messages: &str) -> String {
    if messages.is_empty() {
        String::new()
    } else {
        format!(" ({messages})")
    }
}

impl PushError {
    /// Whether the remote refused our credentials.
    pub fn is_authentication(&self) -> bool {
        matches!(self, Self::Connect(e) if e.is_authentication())
    }
}

/// The reasons receive-pack gives when the ref is not where the client thought.
fn is_stale(reason: &str) -> bool {
    [
        "fetch first",
        "non-fast-forward",
        "stale info",
        "failed to lock",
    ]
    .iter()
    .any(|needle| reason.contains(needle))
}

/// Pushes `updates` (commits that exist in `repo`) to `endpoint`, with `options` as push
/// options (`git push -o`). Updates the remote already satisfies are skipped; with none left,
/// nothing is sent. Blocks.
pub fn push(
    repo: &gix::Repository,
    endpoint: &Endpoint<'_>,
    updates: &[RefUpdate],
    options: &[String],
) -> Result<(), PushError> {
    let url = check_url(endpoint.url)?;
    let connector = Connector::new(endpoint, repo.path())?;
    let protocol_error = |message: String| PushError::Protocol {
        url: endpoint.url.to_owned(),
        message,
    };
    let mut transport = open_transport(&connector, url)?;
    let (capabilities, advertised) = {
        let handshake = transport
            .handshake(Service::ReceivePack, &[])
            .map_err(|e| connect_error(&connector, &e))?;
        let advertised = match handshake.refs {
            Some(mut refs) => read_advertisement(&mut refs).map_err(protocol_error)?,
            None => HashMap::new(),
        };
        (handshake.capabilities, advertised)
    };

    let mut commands = Vec::new();
    for update in updates {
        let current = advertised.get(&update.remote_ref).copied();
        // Already there (say, a retry after a lost response): nothing to do or race about.
        if current == Some(update.new) {
            continue;
        }
        if let UpdateMode::Expect(expected) = update.mode
            && expected != current
        {
            return Err(PushError::Race {
                reference: update.remote_ref.clone(),
                remote: current,
            });
        }
        // As `git push` does, a plain update must fast-forward: the server (by default)
        // would accept anything.
        if update.mode == UpdateMode::FastForward
            && let Some(current) = current
            && !is_ancestor(repo, current, update.new)
        {
            return Err(PushError::Rejected {
                reference: update.remote_ref.clone(),
                reason: "non-fast-forward: the remote has commits this history lacks".into(),
                messages: String::new(),
            });
        }
        let old = current.unwrap_or_else(|| ObjectId::null(gix::hash::Kind::Sha1));
        commands.push(format!("{old} {} {}", update.new, update.remote_ref));
    }
    if commands.is_empty() {
        return Ok(());
    }
    if !options.is_empty() && !capabilities.contains("push-options") {
        return Err(PushError::PushOptionsUnsupported);
    }

    let tips: Vec<ObjectId> = updates.iter().map(|u| u.new).collect();
    let remote_tips: Vec<ObjectId> = advertised.values().copied().collect();
    let objects = pack::objects_to_send(repo, &tips, &remote_tips).map_err(PushError::Pack)?;
    let mut request = Vec::new();
    let sideband = capabilities.contains("side-band-64k");
    let mut wanted = vec!["report-status"];
    if sideband {
        wanted.push("side-band-64k");
    }
    if !options.is_empty() {
        wanted.push("push-options");
    }
    let agent = concat!("agent=driftless/", env!("CARGO_PKG_VERSION"));
    for (index, command) in commands.iter().enumerate() {
        let line = if index == 0 {
            format!("{command}\0{} {agent}", wanted.join(" "))
        } else {
            command.clone()
        };
        request.extend(pkt_line(line.as_bytes()));
    }
    request.extend_from_slice(FLUSH);
    if !options.is_empty() {
        for option in options {
            request.extend(pkt_line(option.as_bytes()));
        }
        request.extend_from_slice(FLUSH);
    }
    pack::write_pack(repo, &objects, &mut request).map_err(PushError::Pack)?;

    let writer = transport
        .request(WriteMode::Binary, MessageKind::Flush, false)
        .map_err(|e| connect_error(&connector, &e))?;
    let (mut body, mut response) = writer.into_parts();
    body.write_all(&request)
        .and_then(|()| body.flush())
        .map_err(|e| protocol_error(format!("sending the push: {e}")))?;
    // The HTTP request only goes out once the body is complete.
    drop(body);
    let (report_lines, messages) =
        read_report(&mut response, sideband).map_err(|e| connect_error_text(&connector, e))?;
    drop(response);
    let report = parse_report(&report_lines).map_err(protocol_error)?;
    if let Some(error) = report.unpack_error {
        return Err(PushError::Unpack(error));
    }
    for (reference, status) in report.refs {
        if let RefStatus::Rejected(reason) = status {
            let expected = updates
                .iter()
                .any(|u| u.remote_ref == reference && matches!(u.mode, UpdateMode::Expect(_)));
            if expected && is_stale(&reason) {
                return Err(PushError::Race {
                    reference,
                    remote: None,
                });
            }
            return Err(PushError::Rejected {
                reference,
                reason,
                messages,
            });
        }
    }
    Ok(())
}

/// Whether `ancestor` is in the history of `commit` (false when it is not in the local
/// repository at all).
fn is_ancestor(repo: &gix::Repository, ancestor: ObjectId, commit: ObjectId) -> bool {
    if repo.find_commit(ancestor).is_err() {
        return false;
    }
    repo.rev_walk([commit])
        .all()
        .map(|walk| walk.filter_map(Result::ok).any(|info| info.id == ancestor))
        .unwrap_or(false)
}

fn open_transport(connector: &Connector<'_>, url: gix::Url) -> Result<BoxedTransport, PushError> {
    match Transport::of(connector.endpoint.url) {
        Some(Transport::Ssh) => {
            let options = ssh::connect::Options {
                command: connector.ssh_command().map(Into::into),
                disallow_shell: false,
                kind: Some(ssh::ProgramKind::Ssh),
            };
            let transport = ssh::connect(url, Protocol::V1, options, false)
                .map_err(|e| connect_error_text(connector, error_chain(&e)))?;
            Ok(Box::new(transport))
        }
        _ => Ok(connector.http_transport(url, Protocol::V1)?),
    }
}

fn connect_error(
    connector: &Connector<'_>,
    error: &gix::protocol::transport::client::Error,
) -> PushError {
    let text = error_chain(error);
    if text.contains("HTTP 401") || text.to_ascii_lowercase().contains("authentication") {
        connector.note_auth_refused();
    }
    connect_error_text(connector, text)
}

fn connect_error_text(connector: &Connector<'_>, text: String) -> PushError {
    let refused = looks_unauthenticated(&text);
    PushError::Connect(connector.classify(text, refused))
}

/// `<oid> <ref>` lines of a v0/v1 advertisement; `capabilities^{}` (an empty repository) and
/// peeled tags are left out.
fn read_advertisement(
    refs: &mut Box<dyn gix::protocol::transport::client::blocking_io::ReadlineBufRead + '_>,
) -> Result<HashMap<String, ObjectId>, String> {
    let mut advertised = HashMap::new();
    let mut line = String::new();
    loop {
        line.clear();
        let read = refs
            .readline_str(&mut line)
            .map_err(|e| format!("reading the ref advertisement: {e}"))?;
        if read == 0 {
            break;
        }
        let Some((id, name)) = line.trim_end().split_once(' ') else {
            continue;
        };
        if name.ends_with("^{}") {
            continue;
        }
        let id = ObjectId::from_hex(id.as_bytes())
            .map_err(|e| format!("invalid id in the ref advertisement: {e}"))?;
        advertised.insert(name.to_owned(), id);
    }
    Ok(advertised)
}

/// The report-status lines and whatever the server printed (hook output) along the way.
fn read_report<'a>(
    response: &mut Box<dyn ExtendedBufRead<'a> + Unpin + 'a>,
    sideband: bool,
) -> Result<(Vec<Vec<u8>>, String), String> {
    response.reset(Protocol::V1);
    let printed = Arc::new(Mutex::new(String::new()));
    if sideband {
        let sink = printed.clone();
        response.set_progress_handler(Some(Box::new(move |_is_error, text: &[u8]| {
            if let Ok(mut sink) = sink.lock() {
                sink.push_str(&String::from_utf8_lossy(text));
            }
            std::ops::ControlFlow::Continue(())
        })));
    }
    let mut data = Vec::new();
    response
        .read_to_end(&mut data)
        .map_err(|e| format!("reading the push report: {}", error_chain(&e)))?;
    response.set_progress_handler(None);
    let lines = if sideband {
        // Band 1 carries the report as pkt-lines of its own.
        split_pkt_lines(&data)?
    } else {
        data.split_inclusive(|b| *b == b'\n')
            .map(<[u8]>::to_vec)
            .collect()
    };
    let messages = printed
        .lock()
        .map(|text| {
            text.lines()
                .map(str::trim)
                .filter(|line| !line.is_empty())
                .collect::<Vec<_>>()
                .join("; ")
        })
        .unwrap_or_default();
    Ok((lines, messages))
}
