//! The free-space watermark: message writes stop before the disk is full.
//!
//! Why: a full disk fails every write, and the metadata journals (sign-in, registration) share
//! the disk with the message log. Refusing messages while the data directory's filesystem has
//! less than `min_free_bytes` free keeps that headroom for metadata and tells senders plainly
//! (`storage_full`, retry later) instead of failing writes one by one (audit H4).
//!
//! The reading (`statvfs`) is cached for [`RECHECK`], so a busy server pays for it about once a
//! second, not once a batch. Only message batches consult it; metadata writes never do.

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How long one free-space reading is trusted.
pub const RECHECK: Duration = Duration::from_secs(1);

/// Bytes available to an unprivileged writer on the filesystem holding `path`.
pub fn free_bytes(path: &Path) -> io::Result<u64> {
    let c_path = CString::new(path.as_os_str().as_bytes())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    // SAFETY: `statvfs` is plain old data, so all zeroes is a valid value; `c_path` is a valid
    // NUL-terminated string and `stat` a valid, writable pointer for the duration of the call.
    let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(c_path.as_ptr(), &mut stat) } != 0 {
        return Err(io::Error::last_os_error());
    }
    #[allow(clippy::unnecessary_cast)] // the field types differ between platforms
    Ok((stat.f_bavail as u64).saturating_mul(stat.f_frsize as u64))
}

/// Says whether the filesystem of a directory is below its free-space watermark.
pub struct Watermark {
    path: PathBuf,
    min_free_bytes: u64,
    /// The last reading: when, and whether it was low.
    last: Option<(Instant, bool)>,
    /// How many times free space was actually read (for tests of the caching).
    #[cfg(test)]
    reads: usize,
}

impl Watermark {
    pub fn new(path: &Path, min_free_bytes: u64) -> Self {
        Self {
            path: path.to_owned(),
            min_free_bytes,
            last: None,
            #[cfg(test)]
            reads: 0,
        }
    }

    /// Whether free space is below the watermark, read at most once per [`RECHECK`]. A failed
    /// reading counts as not low (logged): the write itself then reports any real trouble.
    pub fn is_low(&mut self) -> bool {
        if self.min_free_bytes == 0 {
            return false;
        }
        if let Some((at, low)) = self.last {
            if at.elapsed() < RECHECK {
                return low;
            }
        }
        let was_low = self.last.is_some_and(|(_, low)| low);
        #[cfg(test)]
        {
            self.reads += 1;
        }
        let low = match free_bytes(&self.path) {
            Ok(free) => {
                if free < self.min_free_bytes && !was_low {
                    tracing::warn!(
                        free,
                        min_free = self.min_free_bytes,
                        "disk space below the watermark: refusing new messages (storage_full)"
                    );
                } else if free >= self.min_free_bytes && was_low {
                    tracing::info!(
                        free,
                        "disk space back above the watermark: accepting messages"
                    );
                }
                free < self.min_free_bytes
            }
            Err(e) => {
                tracing::warn!(path = %self.path.display(), "could not read free disk space: {e}");
                false
            }
        };
        self.last = Some((Instant::now(), low));
        low
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_watermark_above_the_disk_size_is_low_and_zero_never_is() {
        let dir = tempfile::tempdir().unwrap();
        assert!(free_bytes(dir.path()).unwrap() > 0);
        assert!(Watermark::new(dir.path(), u64::MAX).is_low());
        assert!(!Watermark::new(dir.path(), 0).is_low());
        assert!(!Watermark::new(dir.path(), 1).is_low());
    }

    #[test]
    fn free_space_is_read_at_most_once_a_second_however_many_batches_ask() {
        let dir = tempfile::tempdir().unwrap();
        let mut watermark = Watermark::new(dir.path(), u64::MAX);
        for _ in 0..1000 {
            assert!(watermark.is_low());
        }
        assert_eq!(watermark.reads, 1);
    }
}
