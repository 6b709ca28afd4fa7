//! Keeping the resident size close to what is in use, with glibc's malloc.
//!
//! Each poll of a large account replaces tens of megabytes (the package
//! list, the rendered series). By default glibc keeps what is freed for
//! reuse, in one arena per thread that allocated it (polls work on blocking
//! threads), and raises its mmap threshold after freeing a large block, so
//! the resident size ratchets up to several times what is live. Three
//! settings keep it honest: large blocks always come from mmap (and go back
//! to the system when freed), two arenas at most, and a trim after each poll.
//! Elsewhere (another libc) these do nothing.

#[cfg(all(target_os = "linux", target_env = "gnu"))]
mod glibc {
    use std::ffi::c_int;

    // From glibc's <malloc.h>.
    const M_MMAP_THRESHOLD: c_int = -3;
    const M_ARENA_MAX: c_int = -8;

    unsafe extern "C" {
        fn mallopt(param: c_int, value: c_int) -> c_int;
        fn malloc_trim(pad: usize) -> c_int;
    }

    pub fn tune() {
        // SAFETY: mallopt only sets allocator parameters; it is called at
        // start, and glibc accepts it at any time.
        unsafe {
            mallopt(M_MMAP_THRESHOLD, 256 * 1024);
            mallopt(M_ARENA_MAX, 2);
        }
    }

    pub fn trim() {
        // SAFETY: malloc_trim only returns free memory to the system.
        unsafe {
            malloc_trim(0);
        }
    }
}

/// Sets the allocator up for a long-running daemon; call once at start.
pub fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    glibc::tune();
}

/// Returns memory freed since the last call to the system.
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    glibc::trim();
}
