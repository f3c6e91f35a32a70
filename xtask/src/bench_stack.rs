//! Which controllers a benchmark runs: Driftless's, Flux's (built by `cargo xtask peer build`)
//! or both, one after the other on fresh control planes with the same workload and flags;
//! and the side-by-side table of what each cost.

use std::path::{Path, PathBuf};

use anyhow::Context;
use driftless_testenv::ControlPlane;
use driftless_testenv::controller::ControllerProcess;
use driftless_testenv::peer::FluxController;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;

/// `--stack`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum StackChoice {
    Driftless,
    Flux,
    Both,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stack {
    Driftless,
    Flux,
}

impl StackChoice {
    /// The stacks to run, Flux's first: each run then starts from the same cold machine
    /// state as far as the page cache allows, and Driftless never warms anything for Flux.
    pub fn stacks(self) -> Vec<Stack> {
        match self {
            StackChoice::Driftless => vec![Stack::Driftless],
            StackChoice::Flux => vec![Stack::Flux],
            StackChoice::Both => vec![Stack::Flux, Stack::Driftless],
        }
    }
}

impl Stack {
    pub fn label(self) -> &'static str {
        match self {
            Stack::Driftless => "Driftless",
            Stack::Flux => "Flux",
        }
    }

    /// A fresh control plane started with `options`, serving the stack's CRDs (Flux's of the
    /// controllers named, for Flux).
    pub async fn control_plane(
        self,
        options: driftless_testenv::Options,
        flux: &[&FluxController],
    ) -> anyhow::Result<ControlPlane> {
        let plane = ControlPlane::start(driftless_testenv::Options {
            install_crds: false,
            ..options
        })
        .await
        .context("starting the control plane")?;
        plane.install_crds(&self.crds(flux)?).await?;
        Ok(plane)
    }

    /// The CRDs the stack serves: Driftless's generated ones, or Flux's release's for the
    /// controllers named.
    pub fn crds(self, flux: &[&FluxController]) -> anyhow::Result<Vec<CustomResourceDefinition>> {
        match self {
            Stack::Driftless => Ok(driftless_api::crds()),
            Stack::Flux => {
                let mut crds = Vec::new();
                for controller in flux {
                    crds.extend(controller.crds()?);
                }
                Ok(crds)
            }
        }
    }
}

/// One controller of a stack: Driftless's binary, or Flux's pinned build of the same name.
pub struct StackController<'a> {
    pub name: &'static str,
    pub driftless: &'a Path,
    pub flux: &'a FluxController,
}

impl StackController<'_> {
    fn binary(&self, stack: Stack) -> anyhow::Result<PathBuf> {
        match stack {
            Stack::Driftless => Ok(self.driftless.to_owned()),
            Stack::Flux => Ok(self.flux.path()?),
        }
    }

    /// Starts the controller of `stack` confined to `namespace` with `args` (flags both
    /// stacks share), and waits until it is ready. Flux's controllers take the namespace from
    /// `RUNTIME_NAMESPACE`, run without leader election and send no events, as Driftless's
    /// do here.
    pub fn start(
        &self,
        plane: &ControlPlane,
        stack: Stack,
        namespace: &str,
        args: &[String],
    ) -> anyhow::Result<ControllerProcess> {
        let binary = self.binary(stack)?;
        let mut all = vec!["--watch-all-namespaces=false".to_owned()];
        let mut env = Vec::new();
        match stack {
            Stack::Driftless => all.push(format!("--runtime-namespace={namespace}")),
            Stack::Flux => {
                env.push(("RUNTIME_NAMESPACE", namespace.to_owned()));
                all.push("--enable-leader-election=false".into());
                all.push("--events-addr=".into());
            }
        }
        all.extend_from_slice(args);
        let mut controller = ControllerProcess::spawn_with_env(
            self.name,
            &binary,
            &plane.kubeconfig_path(),
            plane.dir(),
            &env,
            &all,
        )?;
        tokio::task::block_in_place(|| controller.wait_ready(std::time::Duration::from_secs(60)))
            .with_context(|| format!("starting {} {}", stack.label(), self.name))?;
        Ok(controller)
    }
}

/// What one stack's run cost.
pub struct Measured {
    pub stack: Stack,
    pub seconds: f64,
    /// Per controller: (name, peak RSS in MiB, CPU seconds, its API requests per object).
    pub controllers: Vec<(&'static str, f64, f64, f64)>,
    pub requests_per_object: f64,
    /// kube-apiserver's CPU seconds during the run: the load the controllers put on it.
    pub api_server_cpu: f64,
}

impl Measured {
    pub fn rss_total(&self) -> f64 {
        self.controllers.iter().map(|c| c.1).sum()
    }

    pub fn cpu_total(&self) -> f64 {
        self.controllers.iter().map(|c| c.2).sum()
    }
}

/// The side-by-side table, with Driftless/Flux ratios when both ran.
pub fn print_side_by_side(runs: &[Measured]) {
    if runs.is_empty() {
        return;
    }
    let ours = runs.iter().find(|m| m.stack == Stack::Driftless);
    let flux = runs.iter().find(|m| m.stack == Stack::Flux);
    let mut header = format!("  {:<30}", "");
    for run in runs {
        header.push_str(&format!("{:>14}", run.stack.label()));
    }
    if ours.is_some() && flux.is_some() {
        header.push_str(&format!("{:>18}", "Driftless/Flux"));
    }
    println!("{header}");
    let row = |label: &str, value: &dyn Fn(&Measured) -> f64, unit: &str| {
        let mut line = format!("  {label:<30}");
        for run in runs {
            line.push_str(&format!("{:>14}", format!("{:.1}{unit}", value(run))));
        }
        if let (Some(ours), Some(flux)) = (ours, flux) {
            let ratio = value(ours) / value(flux).max(f64::EPSILON);
            line.push_str(&format!("{ratio:>18.3}"));
        }
        println!("{line}");
    };
    row("all Ready after", &|m| m.seconds, " s");
    let names: Vec<&'static str> = runs[0].controllers.iter().map(|c| c.0).collect();
    for (i, name) in names.iter().enumerate() {
        row(
            &format!("peak RSS {name}"),
            &|m| m.controllers.get(i).map_or(0.0, |c| c.1),
            " MiB",
        );
    }
    row("peak RSS, summed", &|m| m.rss_total(), " MiB");
    for (i, name) in names.iter().enumerate() {
        row(
            &format!("CPU {name}"),
            &|m| m.controllers.get(i).map_or(0.0, |c| c.2),
            " s",
        );
    }
    row("CPU, summed", &|m| m.cpu_total(), " s");
    row("API requests per object", &|m| m.requests_per_object, "");
    for (i, name) in names.iter().enumerate() {
        row(
            &format!("  made by {name}"),
            &|m| m.controllers.get(i).map_or(0.0, |c| c.3),
            "",
        );
    }
    row("kube-apiserver CPU", &|m| m.api_server_cpu, " s");
    if let (Some(ours), Some(flux)) = (ours, flux) {
        println!(
            "  Driftless: {:.1}x faster, {:.1}x less memory, {:.1}x less CPU than Flux in this run",
            flux.seconds / ours.seconds.max(f64::EPSILON),
            flux.rss_total() / ours.rss_total().max(f64::EPSILON),
            flux.cpu_total() / ours.cpu_total().max(f64::EPSILON),
        );
    }
}

/// One controller's cost in a run.
pub struct ControllerCost {
    pub name: &'static str,
    pub rss_mib: f64,
    pub anon_rss_mib: f64,
    pub cpu_seconds: f64,
    /// API requests the controller made in the run (its `rest_client_requests_total`).
    pub requests: f64,
}

/// Samples a run's controllers' anonymous RSS while it waits, and reads their peak RSS and
/// CPU when it ends.
pub struct CostMeter<'a> {
    controllers: Vec<(&'static str, &'a ControllerProcess)>,
    anon_peak_kib: Vec<u64>,
    requests_before: Vec<f64>,
}

impl<'a> CostMeter<'a> {
    pub fn new(controllers: &[(&'static str, &'a ControllerProcess)]) -> Self {
        CostMeter {
            controllers: controllers.to_vec(),
            anon_peak_kib: vec![0; controllers.len()],
            requests_before: controllers
                .iter()
                .map(|(_, process)| requests_made(process))
                .collect(),
        }
    }

    pub fn sample(&mut self) {
        for ((_, process), peak) in self.controllers.iter().zip(&mut self.anon_peak_kib) {
            let now = crate::bench::status_kib(process.pid(), "RssAnon").unwrap_or(0);
            *peak = (*peak).max(now);
        }
    }

    /// The costs, read before the controllers are stopped.
    pub fn finish(self) -> Costs {
        let mib = |kib: u64| kib as f64 / 1024.0;
        let costs = self
            .controllers
            .iter()
            .zip(self.anon_peak_kib)
            .zip(self.requests_before)
            .map(|(((name, process), anon), before)| ControllerCost {
                name,
                rss_mib: mib(crate::bench::peak_rss_kib(process.pid()).unwrap_or(0)),
                anon_rss_mib: mib(anon),
                cpu_seconds: crate::bench::cpu_seconds(process.pid()).unwrap_or(0.0),
                requests: requests_made(process) - before,
            })
            .collect();
        Costs(costs)
    }
}

/// Every controller's cost in a run, in the order they were named.
pub struct Costs(pub Vec<ControllerCost>);

impl Costs {
    fn line(&self, value: impl Fn(&ControllerCost) -> String) -> String {
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|c| format!("{} {}", c.name, value(c)))
            .collect();
        parts.join(", ")
    }

    pub fn print_cpu(&self) {
        let line = self.line(|c| format!("{:.2} s", c.cpu_seconds));
        println!("  CPU                     {line}");
    }

    pub fn print_rss(&self) {
        let line = self.line(|c| format!("{:.1} MiB", c.rss_mib));
        println!("  RSS peak                {line}");
        let line = self.line(|c| format!("{:.1} MiB", c.anon_rss_mib));
        println!("  anonymous RSS peak      {line}");
    }

    pub fn print_requests(&self, objects: usize) {
        let line = self.line(|c| {
            format!(
                "{:.0} ({:.1} per object)",
                c.requests,
                c.requests / objects.max(1) as f64
            )
        });
        println!("  requests made by        {line}");
    }

    /// As [`Measured::controllers`] holds them, requests per one of `objects`.
    pub fn measured(&self, objects: usize) -> Vec<(&'static str, f64, f64, f64)> {
        self.0
            .iter()
            .map(|c| {
                let requests = c.requests / objects.max(1) as f64;
                (c.name, c.rss_mib, c.cpu_seconds, requests)
            })
            .collect()
    }
}

/// Runs `run` for each stack `choice` names (told whether it is the last, after which the
/// floors are measured), and prints the side-by-side table when both ran.
pub async fn run_stacks<F, Fut>(choice: StackChoice, mut run: F) -> anyhow::Result<Vec<Measured>>
where
    F: FnMut(Stack, bool) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<Measured>>,
{
    let stacks = choice.stacks();
    let mut runs = Vec::new();
    for (i, stack) in stacks.iter().enumerate() {
        runs.push(run(*stack, i + 1 == stacks.len()).await?);
    }
    if runs.len() > 1 {
        println!("side by side (same machine, same control plane build, same flags)");
        print_side_by_side(&runs);
    }
    Ok(runs)
}

/// The requests a controller has made to the API server so far: the sum of its
/// `rest_client_requests_total` series, which Flux's controllers (controller-runtime) and
/// Driftless's export alike.
pub(crate) fn requests_made(process: &ControllerProcess) -> f64 {
    process
        .metrics()
        .map_or(0.0, |text| sum_of(&text, "rest_client_requests_total"))
}

/// The sum of every series of `metric` in a Prometheus text exposition.
pub fn sum_of(exposition: &str, metric: &str) -> f64 {
    exposition
        .lines()
        .filter(|line| {
            line.strip_prefix(metric)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        })
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[cfg(test)]
mod tests {
    #[test]
    fn series_of_one_metric_are_summed() {
        let text = "# TYPE rest_client_requests_total counter\n\
            rest_client_requests_total{code=\"200\",host=\"h\",method=\"GET\"} 12\n\
            rest_client_requests_total{code=\"201\",host=\"h\",method=\"POST\"} 3\n\
            rest_client_requests_totally 100\n\
            rest_client_request_duration_seconds_count 7\n";
        assert_eq!(super::sum_of(text, "rest_client_requests_total"), 15.0);
    }
}
