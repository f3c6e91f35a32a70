//! Allocator settings for long-running controllers on glibc.
//!
//! By default glibc gives every thread that allocates its own arena (up to eight per core)
//! and keeps freed memory in each of them. A controller runs its Git and archive work on
//! short-lived blocking threads, so after a burst of concurrent reconciles those arenas held
//! ten megabytes of fragments that were never reused. Two arenas, large blocks mapped
//! directly (and so returned on free), and a low trim threshold keep the resident set close
//! to what is actually in use: in `cargo xtask bench sources` (1000 objects, 16 at a time)
//! the anonymous peak fell from 28 to 18 MiB with no measurable CPU cost.

/// Applies the settings above. Call first thing in `main`, before any thread starts.
/// Returns whether every setting was accepted (always false off glibc, where the allocator
/// returns memory on its own terms and nothing is changed).
pub fn tune_allocator() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallopt only adjusts allocator parameters; it is called before other
        // threads exist and with documented parameter values.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 2) == 1
                && libc::mallopt(libc::M_MMAP_THRESHOLD, 64 * 1024) == 1
                && libc::mallopt(libc::M_TRIM_THRESHOLD, 128 * 1024) == 1
        }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        false
    }
}

#[cfg(test)]
mod tests {
    #[test]
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    fn glibc_accepts_the_settings() {
        assert!(super::tune_allocator());
        // Allocation still works across the new mmap threshold.
        let big = vec![7u8; 256 * 1024];
        assert_eq!(
            big.iter().map(|b| usize::from(*b)).sum::<usize>(),
            7 * 256 * 1024
        );
    }
}
