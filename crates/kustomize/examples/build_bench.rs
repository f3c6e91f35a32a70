//! `build_bench DIR ITERATIONS`: loads DIR into memory once, builds it ITERATIONS times and
//! prints one JSON line with the median build time and the allocations of one build.
//! Used by `cargo xtask bench kustomize` (release build).

use std::alloc::{GlobalAlloc, Layout, System};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use driftless_kustomize::fs::MemFs;
use driftless_kustomize::{BuildOptions, build_yaml};

struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);
static BYTES: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards to the system allocator; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        BYTES.fetch_add(layout.size() as u64, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        BYTES.fetch_add(new_size as u64, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn load(fs: &mut MemFs, root: &Path, dir: &Path) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            load(fs, root, &path)?;
        } else {
            let relative = path.strip_prefix(root).map_err(std::io::Error::other)?;
            fs.add_file(Path::new("/tree").join(relative), std::fs::read(&path)?);
        }
    }
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let tree: PathBuf = args
        .next()
        .ok_or("usage: build_bench DIR [ITERATIONS] [SUBDIR...]")?
        .into();
    let iterations: usize = args.next().map(|n| n.parse()).transpose()?.unwrap_or(20);
    let dirs: Vec<String> = args.collect();
    let dirs = if dirs.is_empty() {
        vec![".".to_owned()]
    } else {
        dirs
    };
    let mut fs = MemFs::new();
    load(&mut fs, &tree, &tree)?;
    let options = BuildOptions::default();
    let build_all = || -> Result<usize, Box<dyn std::error::Error>> {
        let mut bytes = 0;
        for dir in &dirs {
            bytes += build_yaml(&fs, &Path::new("/tree").join(dir), &options)?.len();
        }
        Ok(bytes)
    };
    // One build to warm up, counted for allocations.
    let (a0, b0) = (
        ALLOCATIONS.load(Ordering::Relaxed),
        BYTES.load(Ordering::Relaxed),
    );
    let output_bytes = build_all()?;
    let allocations = ALLOCATIONS.load(Ordering::Relaxed) - a0;
    let allocated_bytes = BYTES.load(Ordering::Relaxed) - b0;
    let mut times = Vec::with_capacity(iterations);
    for _ in 0..iterations {
        let started = Instant::now();
        build_all()?;
        times.push(started.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    let median = times[times.len() / 2];
    println!(
        "{{\"median_seconds\": {median}, \"allocations\": {allocations}, \"allocated_bytes\": {allocated_bytes}, \"output_bytes\": {output_bytes}}}"
    );
    Ok(())
}
