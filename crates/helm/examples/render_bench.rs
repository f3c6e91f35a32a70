//! `render_bench CHART ITERATIONS [-f VALUES]... [--name N] [--namespace NS]
//! [--kube-version V] [--api-versions A]... [--include-crds] [--skip-tests]`: reads the
//! chart directory into memory once, then loads and renders it ITERATIONS times as
//! `helm template` would, and prints one JSON line with the median time and the allocations
//! of one render. Used by `cargo xtask bench helm` (release build).

use std::alloc::{GlobalAlloc, Layout};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use driftless_helm::render::{Capabilities, KubeVersion, default_api_versions};
use driftless_helm::template::{TemplateOptions, output, render_release};
use driftless_helm::{Chart, values};

struct Counting;

/// Counting only during the render that is counted: an atomic add per allocation would
/// otherwise be part of the timed renders.
static COUNTING: AtomicBool = AtomicBool::new(false);
static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);
static BYTES: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards to mimalloc (the allocator `driftless` uses); only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
            BYTES.fetch_add(layout.size() as u64, Ordering::Relaxed);
        }
        // SAFETY: same contract as the caller's.
        unsafe { mimalloc::MiMalloc.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { mimalloc::MiMalloc.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
            BYTES.fetch_add(new_size as u64, Ordering::Relaxed);
        }
        // SAFETY: same contract as the caller's.
        unsafe { mimalloc::MiMalloc.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Every file under `dir`, relative to `root`, following symbolic links as Helm does.
fn read_tree(root: &Path, dir: &Path, out: &mut Vec<(String, Vec<u8>)>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let metadata = std::fs::metadata(&path)?;
        if metadata.is_dir() {
            read_tree(root, &path, out)?;
        } else if metadata.is_file() {
            let relative = path.strip_prefix(root).map_err(std::io::Error::other)?;
            out.push((
                relative.to_string_lossy().into_owned(),
                std::fs::read(&path)?,
            ));
        }
    }
    Ok(())
}

const USAGE: &str = "usage: render_bench CHART ITERATIONS [-f VALUES]... [--name N] [--namespace NS] [--kube-version V] [--api-versions A]... [--include-crds] [--skip-tests]";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let chart_dir = args.next().ok_or(USAGE)?;
    let iterations: usize = args.next().ok_or(USAGE)?.parse()?;
    let mut user_values = serde_json::Map::new();
    let mut options = TemplateOptions {
        release_name: "release-name".into(),
        namespace: "default".into(),
        capabilities: Capabilities {
            api_versions: default_api_versions(),
            ..Capabilities::default()
        },
        include_crds: false,
        skip_tests: false,
        is_upgrade: false,
        revision: 1,
        skip_schema_validation: false,
    };
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or(USAGE);
        match flag.as_str() {
            "-f" => values::merge(
                &mut user_values,
                values::parse_go(&std::fs::read_to_string(value()?)?)?,
            ),
            "--name" => options.release_name = value()?,
            "--namespace" => options.namespace = value()?,
            "--kube-version" => {
                options.capabilities.kube_version =
                    KubeVersion::parse(&value()?).ok_or("invalid --kube-version")?
            }
            "--api-versions" => options.capabilities.api_versions.push(value()?),
            "--include-crds" => options.include_crds = true,
            "--skip-tests" => options.skip_tests = true,
            _ => return Err(format!("unknown flag {flag}; {USAGE}").into()),
        }
    }
    let mut files = Vec::new();
    read_tree(Path::new(&chart_dir), Path::new(&chart_dir), &mut files)?;
    files.sort();

    let render = || -> Result<usize, Box<dyn std::error::Error>> {
        let chart = Chart::load_dir(files.iter().cloned())?;
        let rendered = render_release(chart, &user_values, &options)?;
        Ok(output(&rendered, options.skip_tests).len())
    };
    // One render to warm up, counted for allocations (on every thread it uses).
    COUNTING.store(true, Ordering::Relaxed);
    let output_bytes = render()?;
    COUNTING.store(false, Ordering::Relaxed);
    let allocations = ALLOCATIONS.load(Ordering::Relaxed);
    let allocated_bytes = BYTES.load(Ordering::Relaxed);
    let mut times = Vec::with_capacity(iterations.max(1));
    for _ in 0..iterations.max(1) {
        let started = Instant::now();
        render()?;
        times.push(started.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    let median = times[times.len() / 2];
    println!(
        "{{\"median_seconds\": {median}, \"allocations\": {allocations}, \"allocated_bytes\": {allocated_bytes}, \"output_bytes\": {output_bytes}}}"
    );
    Ok(())
}
