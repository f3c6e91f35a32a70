//! `cargo xtask bench kustomize`: our kustomize against Go's on the same realistic tree
//! (a base of 200 resources with generators, and three overlays with patches, images,
//! replicas and generator merges), with and without process start-up.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, bail};

pub struct KustomizeOptions {
    /// Applications in the base; each is a Deployment, Service, ServiceAccount and ConfigMap.
    pub apps: usize,
    /// Process runs per measurement (the median is reported).
    pub runs: usize,
    /// Write the trees here and keep them (for profiling); a temporary directory otherwise.
    pub tree_dir: Option<PathBuf>,
    /// Measure only driftless, in process (quick, while optimising).
    pub ours_only: bool,
}

const ENVIRONMENTS: [&str; 3] = ["dev", "staging", "prod"];

/// Writes the base and the three overlays under `root`.
pub fn write_tree(root: &Path, apps: usize) -> anyhow::Result<()> {
    let base = root.join("base");
    std::fs::create_dir_all(base.join("apps"))?;
    std::fs::create_dir_all(base.join("config"))?;
    let mut resources = String::new();
    for i in 0..apps {
        let name = format!("app-{i:03}");
        let tier = if i % 3 == 0 { "web" } else { "worker" };
        resources.push_str(&format!("- apps/{name}.yaml\n"));
        std::fs::write(
            base.join("apps").join(format!("{name}.yaml")),
            format!(
                r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  labels:
    app: {name}
    tier: {tier}
spec:
  replicas: 1
  selector:
    matchLabels:
      app: {name}
  template:
    metadata:
      labels:
        app: {name}
        tier: {tier}
    spec:
      serviceAccountName: {name}
      containers:
      - name: main
        image: example.com/app:1.0.0
        args: ["--listen=:8080", "--config=/etc/app/app.properties"]
        ports:
        - containerPort: 8080
          name: http
        env:
        - name: APP_NAME
          value: {name}
        envFrom:
        - configMapRef:
            name: {name}-settings
        volumeMounts:
        - name: shared
          mountPath: /etc/app
      volumes:
      - name: shared
        configMap:
          name: shared
---
apiVersion: v1
kind: Service
metadata:
  name: {name}
spec:
  selector:
    app: {name}
  ports:
  - port: 80
    targetPort: http
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: {name}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: {name}-settings
data:
  LOG_LEVEL: info
  WORKERS: "4"
"#
            ),
        )?;
    }
    std::fs::write(
        base.join("config/app.properties"),
        "timeout=30s\nretries=3\ncache.size=512\n",
    )?;
    std::fs::write(
        base.join("kustomization.yaml"),
        format!(
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\ncommonLabels:\n  app.kubernetes.io/part-of: shop\nresources:\n{resources}configMapGenerator:\n- name: shared\n  files:\n  - config/app.properties\n  literals:\n  - REGION=eu-west-1\n"
        ),
    )?;
    for env in ENVIRONMENTS {
        let dir = root.join("overlays").join(env);
        std::fs::create_dir_all(&dir)?;
        std::fs::write(
            dir.join("kustomization.yaml"),
            format!(
                r#"apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
- ../../base
namespace: shop-{env}
namePrefix: {env}-
commonLabels:
  env: {env}
commonAnnotations:
  owner: team-shop
images:
- name: example.com/app
  newTag: {env}-1.2.3
replicas:
- name: app-000
  count: 3
configMapGenerator:
- name: shared
  behavior: merge
  literals:
  - ENV={env}
secretGenerator:
- name: credentials
  literals:
  - username=shop
  - password=s3cret-{env}
patches:
- target:
    kind: Deployment
    labelSelector: tier=web
  patch: |-
    apiVersion: apps/v1
    kind: Deployment
    metadata:
      name: any
    spec:
      template:
        spec:
          containers:
          - name: main
            resources:
              limits:
                memory: 256Mi
            env:
            - name: ENVIRONMENT
              value: {env}
- target:
    kind: Deployment
    name: app-00.*
  patch: |-
    - op: add
      path: /spec/template/spec/containers/0/args/-
      value: --debug={env}
"#
            ),
        )?;
    }
    Ok(())
}

/// The Go kustomize to compare with: `kustomize` on PATH or in ~/go/bin, else
/// `kubectl kustomize`, else `go install` of kustomize v5.5.0.
fn go_kustomize() -> anyhow::Result<(Vec<String>, String)> {
    let home = std::env::var("HOME").unwrap_or_default();
    let candidates = [
        PathBuf::from("kustomize"),
        Path::new(&home).join("go/bin/kustomize"),
    ];
    for candidate in &candidates {
        if let Ok(output) = Command::new(candidate).arg("version").output()
            && output.status.success()
        {
            let version = String::from_utf8_lossy(&output.stdout).trim().to_owned();
            return Ok((
                vec![candidate.display().to_string(), "build".into()],
                format!("kustomize {version}"),
            ));
        }
    }
    if let Ok(output) = Command::new("kubectl")
        .args(["version", "--client"])
        .output()
        && output.status.success()
    {
        let text = String::from_utf8_lossy(&output.stdout);
        let version = text
            .lines()
            .find(|l| l.starts_with("Kustomize"))
            .unwrap_or("kustomize")
            .trim()
            .to_owned();
        return Ok((
            vec!["kubectl".into(), "kustomize".into()],
            format!("kubectl kustomize ({version})"),
        ));
    }
    eprintln!("installing kustomize v5.5.0 with go install");
    let status = Command::new("go")
        .args(["install", "sigs.k8s.io/kustomize/kustomize/v5@v5.5.0"])
        .status()?;
    if !status.success() {
        bail!("no Go kustomize found and `go install` failed");
    }
    let path = Path::new(&home).join("go/bin/kustomize");
    Ok((
        vec![path.display().to_string(), "build".into()],
        "kustomize v5.5.0 (go install)".into(),
    ))
}

/// Median wall time of running `command DIR` for every dir, summed over the dirs.
fn time_processes(command: &[String], dirs: &[PathBuf], runs: usize) -> anyhow::Result<f64> {
    let mut totals = Vec::with_capacity(runs);
    for _ in 0..runs {
        let mut total = 0.0;
        for dir in dirs {
            let started = Instant::now();
            let output = Command::new(&command[0])
                .args(&command[1..])
                .arg(dir)
                .output()
                .with_context(|| format!("running {}", command[0]))?;
            total += started.elapsed().as_secs_f64();
            if !output.status.success() {
                bail!(
                    "{} {} failed: {}",
                    command.join(" "),
                    dir.display(),
                    String::from_utf8_lossy(&output.stderr)
                );
            }
        }
        totals.push(total);
    }
    totals.sort_by(f64::total_cmp);
    Ok(totals[totals.len() / 2])
}

/// What an in-process bench binary (`build_bench`, `render_bench`) prints: the median time of
/// its iterations and the allocations of one run.
pub(crate) struct InProcess {
    pub seconds: f64,
    pub allocations: u64,
    pub allocated_bytes: u64,
}

/// Runs an in-process bench binary and reads its JSON line.
pub(crate) fn in_process_run(command: Command) -> anyhow::Result<InProcess> {
    let program = command.get_program().to_string_lossy().into_owned();
    let stdout = stdout_of(command)?;
    let json: serde_json::Value =
        serde_json::from_slice(&stdout).with_context(|| format!("reading {program}'s output"))?;
    Ok(InProcess {
        seconds: json["median_seconds"].as_f64().context("median_seconds")?,
        allocations: json["allocations"].as_u64().context("allocations")?,
        allocated_bytes: json["allocated_bytes"]
            .as_u64()
            .context("allocated_bytes")?,
    })
}

fn in_process(bench: &Path, tree: &Path, iterations: usize) -> anyhow::Result<InProcess> {
    let mut command = Command::new(bench);
    command.arg(tree).arg(iterations.to_string());
    for env in ENVIRONMENTS {
        command.arg(format!("overlays/{env}"));
    }
    in_process_run(command)
}

/// Same output from both, document for document, or the comparison means nothing.
/// A command's standard output; its standard error in the error when it fails.
pub(crate) fn stdout_of(mut command: Command) -> anyhow::Result<Vec<u8>> {
    let shown = format!(
        "{} {}",
        command.get_program().to_string_lossy(),
        command
            .get_args()
            .map(|a| a.to_string_lossy())
            .collect::<Vec<_>>()
            .join(" ")
    );
    let output = command
        .output()
        .with_context(|| format!("running {shown}"))?;
    if !output.status.success() {
        bail!(
            "{shown} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(output.stdout)
}

fn check_same_output(ours: &Path, go: &[String], dir: &Path) -> anyhow::Result<()> {
    let run = |command: &[String]| {
        let mut process = Command::new(&command[0]);
        process.args(&command[1..]).arg(dir);
        stdout_of(process)
    };
    let ours_command = vec![
        ours.display().to_string(),
        "kustomize".into(),
        "build".into(),
    ];
    if run(&ours_command)? != run(go)? {
        bail!(
            "driftless and Go kustomize print different output for {}",
            dir.display()
        );
    }
    Ok(())
}

pub fn run(driftless: &Path, bench: &Path, options: &KustomizeOptions) -> anyhow::Result<()> {
    let work = tempfile::tempdir()?;
    let root = options
        .tree_dir
        .clone()
        .unwrap_or_else(|| work.path().to_owned());
    let small = root.join("realistic");
    let large = root.join("large");
    let trivial = root.join("trivial");
    write_tree(&small, options.apps)?;
    write_tree(&large, options.apps * 10)?;
    std::fs::create_dir_all(&trivial)?;
    std::fs::write(
        trivial.join("kustomization.yaml"),
        "configMapGenerator:\n- name: one\n  literals: [A=1]\n",
    )?;
    let overlays = |root: &Path| {
        ENVIRONMENTS
            .iter()
            .map(|e| root.join("overlays").join(e))
            .collect::<Vec<_>>()
    };
    if options.ours_only {
        let small_in = in_process(bench, &small, 20)?;
        let large_in = in_process(bench, &large, 3)?;
        println!(
            "driftless in process: 3 overlays {:.1} ms ({} allocations); 10x tree {:.1} ms ({} allocations)",
            small_in.seconds * 1000.0,
            small_in.allocations,
            large_in.seconds * 1000.0,
            large_in.allocations
        );
        return Ok(());
    }
    let (go, go_name) = go_kustomize()?;

    for dir in overlays(&small) {
        check_same_output(driftless, &go, &dir)?;
    }
    let ours_cli = vec![
        driftless.display().to_string(),
        "kustomize".into(),
        "build".into(),
    ];
    let runs = options.runs.max(1);
    let go_startup = time_processes(&go, std::slice::from_ref(&trivial), runs)?;
    let ours_startup = time_processes(&ours_cli, std::slice::from_ref(&trivial), runs)?;
    let go_small = time_processes(&go, &overlays(&small), runs)?;
    let ours_small = time_processes(&ours_cli, &overlays(&small), runs)?;
    // A minute a run: fewer runs for the large tree.
    let go_large = time_processes(&go, &overlays(&large), runs.min(3))?;
    let ours_small_in = in_process(bench, &small, 20)?;
    let ours_large_in = in_process(bench, &large, 5)?;

    let resources = options.apps * 4;
    let ms = |s: f64| s * 1000.0;
    println!("bench kustomize (Go: {go_name})");
    println!(
        "  tree                           base of {resources} resources + 3 overlays (patches, images, replicas, generators)"
    );
    println!(
        "  output                         {} resources per overlay",
        resources + 3
    );
    println!(
        "  start-up, trivial build        Go {:.1} ms   driftless {:.1} ms",
        ms(go_startup),
        ms(ours_startup)
    );
    println!(
        "  3 overlays, as processes       Go {:.1} ms   driftless {:.1} ms",
        ms(go_small),
        ms(ours_small)
    );
    let with_startup = go_small / ours_small;
    println!("    ratio with start-up          {with_startup:.1}x (target >= 10x)");
    let go_small_work = (go_small - 3.0 * go_startup).max(0.0);
    println!(
        "  3 overlays, without start-up   Go {:.1} ms   driftless {:.1} ms in process ({} allocations, {:.1} MiB allocated)",
        ms(go_small_work),
        ms(ours_small_in.seconds),
        ours_small_in.allocations,
        ours_small_in.allocated_bytes as f64 / 1048576.0
    );
    println!(
        "    ratio without start-up       {:.1}x",
        go_small_work / ours_small_in.seconds
    );
    let go_large_work = (go_large - 3.0 * go_startup).max(0.0);
    println!(
        "  10x larger tree ({} resources per overlay), without start-up: Go {:.1} ms   driftless {:.1} ms ({} allocations)",
        resources * 10 + 3,
        ms(go_large_work),
        ms(ours_large_in.seconds),
        ours_large_in.allocations
    );
    let without_startup = go_large_work / ours_large_in.seconds;
    println!("    ratio without start-up       {without_startup:.1}x (target >= 3x)");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tree_has_the_promised_shape() {
        let dir = tempfile::tempdir().unwrap();
        write_tree(dir.path(), 50).unwrap();
        let apps = std::fs::read_dir(dir.path().join("base/apps"))
            .unwrap()
            .count();
        assert_eq!(apps, 50);
        let built = driftless_kustomize::build(
            &driftless_kustomize::fs::DiskFs,
            &dir.path().join("overlays/prod"),
            &driftless_kustomize::BuildOptions::default(),
        )
        .unwrap();
        // 200 from the base, the merged shared ConfigMap, and the overlay's Secret.
        assert_eq!(built.len(), 202);
        assert!(built.iter().all(|r| r.namespace() == "shop-prod"));
        assert!(
            built
                .iter()
                .any(|r| r.name().starts_with("prod-credentials-"))
        );
    }
}
