//! Table-driven, byte-for-byte: each case is a file before and after, and the changes the
//! result must report.

use driftless_setters::{
    ImageRef, ObjectIdentifier, Policies, SetterError, SkipReason, rewrite, rewrite_all,
};

fn policies() -> Policies {
    let mut policies = Policies::new();
    policies.insert(
        "flux-system",
        "podinfo",
        ImageRef::new("ghcr.io/stefanprodan/podinfo", "6.7.1"),
    );
    policies.insert(
        "flux-system",
        "redis",
        ImageRef::new("docker.io/library/redis", "7.4.2"),
    );
    policies.insert(
        "apps",
        "pinned",
        ImageRef::new("registry.example.com/team/api", "v2.0.0").with_digest("sha256:0123abcd"),
    );
    policies.insert(
        "apps",
        "numeric",
        ImageRef::new("registry.example.com/num", "1.10"),
    );
    policies
}

struct Case {
    name: &'static str,
    before: &'static str,
    /// `None`: the file must be left exactly as it was.
    after: Option<&'static str>,
    /// (setter, old value, new value) in file order.
    changes: &'static [(&'static str, &'static str, &'static str)],
}

const DEPLOYMENT: &str = r#"# The podinfo frontend.
apiVersion: apps/v1
kind: Deployment
metadata:
  name: podinfo   # keep the name short
  namespace: apps
spec:
  template:
    spec:
      initContainers:
        - name: init
          image: busybox:1.36 # not automated


      containers:
        - name: podinfo
          image: ghcr.io/stefanprodan/podinfo:6.5.0 # {"$imagepolicy": "flux-system:podinfo"}
          ports:
            - containerPort: 9898   # http
        - name: cache
          # pinned by digest, updated by tag
          image: docker.io/library/redis:7.2.0    #   {"$imagepolicy":"flux-system:redis"}   
        - {name: sidecar, image: "ghcr.io/stefanprodan/podinfo:6.0.0"}
"#;

const DEPLOYMENT_AFTER: &str = r#"# The podinfo frontend.
apiVersion: apps/v1
kind: Deployment
metadata:
  name: podinfo   # keep the name short
  namespace: apps
spec:
  template:
    spec:
      initContainers:
        - name: init
          image: busybox:1.36 # not automated


      containers:
        - name: podinfo
          image: ghcr.io/stefanprodan/podinfo:6.7.1 # {"$imagepolicy": "flux-system:podinfo"}
          ports:
            - containerPort: 9898   # http
        - name: cache
          # pinned by digest, updated by tag
          image: docker.io/library/redis:7.4.2    #   {"$imagepolicy":"flux-system:redis"}   
        - {name: sidecar, image: "ghcr.io/stefanprodan/podinfo:6.0.0"}
"#;

const KUSTOMIZATION: &str = "\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
- deployment.yaml
images:
- name: podinfo
  newName: ghcr.io/stefanprodan/podinfo # {\"$imagepolicy\": \"flux-system:podinfo:name\"}
  newTag: 6.5.0 # {\"$imagepolicy\": \"flux-system:podinfo:tag\"}
- name: api
  newName: registry.example.com/team/api # {\"$imagepolicy\": \"apps:pinned:name\"}
  newTag: 'v1.9.0' # {\"$imagepolicy\": \"apps:pinned:tag\"}
  digest: sha256:ffff # {\"$imagepolicy\": \"apps:pinned:digest\"}
";

const KUSTOMIZATION_AFTER: &str = "\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
- deployment.yaml
images:
- name: podinfo
  newName: ghcr.io/stefanprodan/podinfo # {\"$imagepolicy\": \"flux-system:podinfo:name\"}
  newTag: 6.7.1 # {\"$imagepolicy\": \"flux-system:podinfo:tag\"}
- name: api
  newName: registry.example.com/team/api # {\"$imagepolicy\": \"apps:pinned:name\"}
  newTag: 'v2.0.0' # {\"$imagepolicy\": \"apps:pinned:tag\"}
  digest: sha256:0123abcd # {\"$imagepolicy\": \"apps:pinned:digest\"}
";

const HELMRELEASE: &str = r#"---
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: api
  namespace: apps
spec:
  chart:
    spec:
      chart: api
      version: "1.x"
  values:
    image:
      repository: "registry.example.com/old/api" # {"$imagepolicy": "apps:pinned:name"}
      tag: "v1.0.0" # {"$imagepolicy": "apps:pinned:tag"}
      # full ref with digest
      full: registry.example.com/team/api:v1.0.0 # {"$imagepolicy": "apps:pinned"}
    numeric:
      tag: 1.9 # {"$imagepolicy": "apps:numeric:tag"}
"#;

const HELMRELEASE_AFTER: &str = r#"---
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: api
  namespace: apps
spec:
  chart:
    spec:
      chart: api
      version: "1.x"
  values:
    image:
      repository: "registry.example.com/team/api" # {"$imagepolicy": "apps:pinned:name"}
      tag: "v2.0.0" # {"$imagepolicy": "apps:pinned:tag"}
      # full ref with digest
      full: registry.example.com/team/api:v2.0.0@sha256:0123abcd # {"$imagepolicy": "apps:pinned"}
    numeric:
      tag: "1.10" # {"$imagepolicy": "apps:numeric:tag"}
"#;

const MULTI_DOC: &str = "\
apiVersion: v1
kind: Pod
metadata:
  name: one
spec:
  containers:
  - image: 'redis:6' # {\"$imagepolicy\": \"flux-system:redis\"}
---
# second
apiVersion: v1
kind: Pod
metadata:
  name: two
  namespace: other
spec:
  containers:
  - image: redis:6 # {\"$imagepolicy\": \"flux-system:redis\"}
...
";

const MULTI_DOC_AFTER: &str = "\
apiVersion: v1
kind: Pod
metadata:
  name: one
spec:
  containers:
  - image: 'docker.io/library/redis:7.4.2' # {\"$imagepolicy\": \"flux-system:redis\"}
---
# second
apiVersion: v1
kind: Pod
metadata:
  name: two
  namespace: other
spec:
  containers:
  - image: docker.io/library/redis:7.4.2 # {\"$imagepolicy\": \"flux-system:redis\"}
...
";

const CASES: &[Case] = &[
    Case {
        name: "deployment with several containers and comments",
        before: DEPLOYMENT,
        after: Some(DEPLOYMENT_AFTER),
        changes: &[
            (
                "flux-system:podinfo",
                "ghcr.io/stefanprodan/podinfo:6.5.0",
                "ghcr.io/stefanprodan/podinfo:6.7.1",
            ),
            (
                "flux-system:redis",
                "docker.io/library/redis:7.2.0",
                "docker.io/library/redis:7.4.2",
            ),
        ],
    },
    Case {
        name: "kustomization images list, one entry already current",
        before: KUSTOMIZATION,
        after: Some(KUSTOMIZATION_AFTER),
        changes: &[
            ("flux-system:podinfo:tag", "6.5.0", "6.7.1"),
            ("apps:pinned:tag", "v1.9.0", "v2.0.0"),
            ("apps:pinned:digest", "sha256:ffff", "sha256:0123abcd"),
        ],
    },
    Case {
        name: "helmrelease values, quoted and numeric-looking",
        before: HELMRELEASE,
        after: Some(HELMRELEASE_AFTER),
        changes: &[
            (
                "apps:pinned:name",
                "registry.example.com/old/api",
                "registry.example.com/team/api",
            ),
            ("apps:pinned:tag", "v1.0.0", "v2.0.0"),
            (
                "apps:pinned",
                "registry.example.com/team/api:v1.0.0",
                "registry.example.com/team/api:v2.0.0@sha256:0123abcd",
            ),
            ("apps:numeric:tag", "1.9", "1.10"),
        ],
    },
    Case {
        name: "CRLF line endings and trailing blanks kept",
        before: "kind: Deployment\r\nspec:\r\n  image: redis:6 # {\"$imagepolicy\": \"flux-system:redis\"}\r\n  other: x  \r\n",
        after: Some(
            "kind: Deployment\r\nspec:\r\n  image: docker.io/library/redis:7.4.2 # {\"$imagepolicy\": \"flux-system:redis\"}\r\n  other: x  \r\n",
        ),
        changes: &[(
            "flux-system:redis",
            "redis:6",
            "docker.io/library/redis:7.4.2",
        )],
    },
    Case {
        name: "multi-line flow mapping: a marked entry is set",
        before: "images: {\n  name: podinfo,\n  tag: 6.0.0 # {\"$imagepolicy\": \"flux-system:podinfo:tag\"}\n}\n",
        after: Some(
            "images: {\n  name: podinfo,\n  tag: 6.7.1 # {\"$imagepolicy\": \"flux-system:podinfo:tag\"}\n}\n",
        ),
        changes: &[("flux-system:podinfo:tag", "6.0.0", "6.7.1")],
    },
    Case {
        name: "one-line flow mapping: the comment belongs to the mapping, not a scalar",
        before: "image: {repository: podinfo, tag: 6.0.0} # {\"$imagepolicy\": \"flux-system:podinfo:tag\"}\n",
        after: None,
        changes: &[],
    },
    Case {
        name: "flow sequence item followed by a comma: the comment is not right after it",
        before: "images: [\n  \"redis:6\", # {\"$imagepolicy\": \"flux-system:redis\"}\n  ]\n",
        after: None,
        changes: &[],
    },
    Case {
        name: "multi-document stream with a document end marker",
        before: MULTI_DOC,
        after: Some(MULTI_DOC_AFTER),
        changes: &[
            (
                "flux-system:redis",
                "redis:6",
                "docker.io/library/redis:7.4.2",
            ),
            (
                "flux-system:redis",
                "redis:6",
                "docker.io/library/redis:7.4.2",
            ),
        ],
    },
    Case {
        name: "double-quoted value with escapes, anchor and tag kept",
        before: "a: &img !!str \"old\\u0020value\" # {\"$imagepolicy\": \"flux-system:redis:tag\"}\n",
        after: Some("a: &img !!str \"7.4.2\" # {\"$imagepolicy\": \"flux-system:redis:tag\"}\n"),
        changes: &[("flux-system:redis:tag", "old value", "7.4.2")],
    },
    Case {
        name: "already current: no rewrite",
        before: "image: ghcr.io/stefanprodan/podinfo:6.7.1 # {\"$imagepolicy\": \"flux-system:podinfo\"}\n",
        after: None,
        changes: &[],
    },
    Case {
        name: "unknown policy left alone",
        before: "image: nginx:1 # {\"$imagepolicy\": \"flux-system:nginx\"}\n",
        after: None,
        changes: &[],
    },
    Case {
        name: "marker without the quoted token is not screened in",
        before: "image: nginx:1 # {\"\\u0024imagepolicy\": \"flux-system:redis\"}\n",
        after: None,
        changes: &[],
    },
    Case {
        name: "marker on its own line above the field is not a line comment",
        before: "# {\"$imagepolicy\": \"flux-system:redis\"}\nimage: redis:6\n",
        after: None,
        changes: &[],
    },
    Case {
        name: "a marker on a key's line with an empty value sets nothing",
        before: "image: # {\"$imagepolicy\": \"flux-system:redis\"}\n  redis:6\n",
        after: None,
        changes: &[],
    },
    Case {
        name: "a plain value after a tab is written quoted (a plain one there does not parse)",
        before: "spec:\n  - image:\t\t~ # {\"$imagepolicy\": \"flux-system:redis\"}\n",
        after: Some(
            "spec:\n  - image:\t\t\"docker.io/library/redis:7.4.2\" # {\"$imagepolicy\": \"flux-system:redis\"}\n",
        ),
        changes: &[("flux-system:redis", "~", "docker.io/library/redis:7.4.2")],
    },
    Case {
        name: "UTF-8 before the marked scalar",
        before: "note: \"héllo wörld ✓\"\nimage: redis:6 # {\"$imagepolicy\": \"flux-system:redis\"}\n",
        after: Some(
            "note: \"héllo wörld ✓\"\nimage: docker.io/library/redis:7.4.2 # {\"$imagepolicy\": \"flux-system:redis\"}\n",
        ),
        changes: &[(
            "flux-system:redis",
            "redis:6",
            "docker.io/library/redis:7.4.2",
        )],
    },
];

#[test]
fn cases() {
    let policies = policies();
    for case in CASES {
        let update = rewrite("file.yaml", case.before, &policies)
            .unwrap_or_else(|e| panic!("{}: {e}", case.name));
        assert_eq!(update.updated.as_deref(), case.after, "{}", case.name);
        let mut changes: Vec<_> = update.objects.values().flatten().collect();
        changes.sort_by_key(|c| c.span.start);
        let changes: Vec<_> = changes
            .iter()
            .map(|c| {
                (
                    c.setter.as_str(),
                    c.old_value.as_str(),
                    c.new_value.as_str(),
                )
            })
            .collect();
        assert_eq!(changes, case.changes, "{}", case.name);
        if let Some(after) = case.after {
            let again = rewrite("file.yaml", after, &policies).expect("output parses");
            assert_eq!(
                again.updated, None,
                "{}: second run must be a no-op",
                case.name
            );
        }
    }
}

#[test]
fn objects_and_fields_are_reported() {
    let update = rewrite("deploy.yaml", DEPLOYMENT, &policies()).expect("parses");
    let id = ObjectIdentifier {
        api_version: "apps/v1".into(),
        kind: "Deployment".into(),
        namespace: "apps".into(),
        name: "podinfo".into(),
    };
    let fields: Vec<_> = update.objects[&id]
        .iter()
        .map(|c| (c.field.as_str(), c.line))
        .collect();
    assert_eq!(
        fields,
        [
            ("spec.template.spec.containers[0].image", 17),
            ("spec.template.spec.containers[1].image", 22),
        ]
    );

    let update = rewrite("multi.yaml", MULTI_DOC, &policies()).expect("parses");
    let names: Vec<_> = update
        .objects
        .keys()
        .map(|id| (id.namespace.as_str(), id.name.as_str()))
        .collect();
    assert_eq!(names, [("", "one"), ("other", "two")]);
}

#[test]
fn skipped_markers_are_reported() {
    let text = "\
e: &anchor redis
a: nginx:1 # {\"$imagepolicy\": \"flux-system:nginx\"}
b: x # {\"$imagepolicy\": \"flux-system:podinfo:digest\"}
c: *anchor # {\"$imagepolicy\": \"flux-system:redis\"}
d: | # {\"$imagepolicy\": \"flux-system:redis\"}
  redis:6
f: docker.io/library/redis
  :6 # {\"$imagepolicy\": \"flux-system:redis\"}
";
    let update = rewrite("f.yaml", text, &policies()).expect("parses");
    assert_eq!(update.updated, None);
    let reasons: Vec<_> = update
        .skipped
        .iter()
        .map(|s| (s.line, s.field.as_str(), s.reason.clone()))
        .collect();
    assert_eq!(
        reasons,
        [
            (2, "a", SkipReason::UnknownPolicy),
            (3, "b", SkipReason::NoDigest),
            (4, "c", SkipReason::Unsupported("an alias")),
            (5, "d", SkipReason::Unsupported("a block scalar")),
            (
                8,
                "f",
                SkipReason::Unsupported("a multi-line or unreadable scalar")
            ),
        ]
    );
}

#[test]
fn an_edit_that_would_break_the_file_is_skipped_and_the_rest_kept() {
    // The value after a tab must be written quoted, and saphyr refuses a quoted scalar in
    // this under-indented flow mapping while it takes the plain one: that edit is dropped.
    let text = "\
image: redis:6 # {\"$imagepolicy\": \"flux-system:redis\"}
m: {
  :\t x # {\"$imagepolicy\": \"apps:pinned:digest\"}
}
";
    let update = rewrite("f.yaml", text, &policies()).expect("parses");
    assert_eq!(
        update.updated.as_deref(),
        Some(
            text.replace("redis:6", "docker.io/library/redis:7.4.2")
                .as_str()
        )
    );
    let changed: Vec<_> = update.objects.values().flatten().map(|c| c.line).collect();
    assert_eq!(changed, [1]);
    let skipped: Vec<_> = update
        .skipped
        .iter()
        .map(|s| (s.line, s.reason.clone()))
        .collect();
    assert_eq!(
        skipped,
        [(
            3,
            SkipReason::Unsupported("a value whose new text the file cannot hold")
        )]
    );
    let again = rewrite(
        "f.yaml",
        update.updated.as_deref().unwrap_or_default(),
        &policies(),
    );
    assert_eq!(again.map(|u| u.updated), Ok(None));
}

#[test]
fn not_yaml_is_an_error_and_left_alone() {
    let template =
        "image: {{ .Values.image }} # {\"$imagepolicy\": \"flux-system:redis\"}\n  - : [\n";
    let err = rewrite("chart/templates/deploy.yaml", template, &policies()).expect_err("not YAML");
    assert!(matches!(err, SetterError::InvalidYaml { .. }), "{err}");

    let result = rewrite_all(
        [
            ("chart/templates/deploy.yaml", template),
            ("apps/deploy.yaml", DEPLOYMENT),
            ("apps/kustomization.yaml", KUSTOMIZATION),
            (
                "README.md",
                "image: redis:6 # {\"$imagepolicy\": \"flux-system:redis\"}\n",
            ),
            ("base/Kustomization", KUSTOMIZATION),
            ("unmarked.yaml", "a: b\n"),
        ],
        &policies(),
    );
    assert_eq!(
        result.problem_files.keys().collect::<Vec<_>>(),
        ["chart/templates/deploy.yaml"]
    );
    assert_eq!(
        result.updated_files.keys().collect::<Vec<_>>(),
        [
            "apps/deploy.yaml",
            "apps/kustomization.yaml",
            "base/Kustomization"
        ]
    );
    assert_eq!(result.updated_files["apps/deploy.yaml"], DEPLOYMENT_AFTER);
    let setters: Vec<_> = result.changes().iter().map(|c| c.setter.clone()).collect();
    assert_eq!(
        setters,
        [
            "apps:pinned:digest",
            "apps:pinned:tag",
            "flux-system:podinfo",
            "flux-system:podinfo:tag",
            "flux-system:redis",
        ]
    );
    assert_eq!(result.objects().len(), 2);
}
