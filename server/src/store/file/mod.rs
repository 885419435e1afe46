//! The embedded file store, Minitalk's default backend: everything lives in the data directory
//! (see [`crate::store`]), written by this process alone.
//!
//! - [`log`]: the append-only, segmented message log, a folder because it has phases
//!   (recovery, writer, reader);
//! - [`FileMessageStore`]: the [`MessageStore`](super::MessageStore) over that log. It owns the
//!   log's writer thread and the dedupe memory, so no caller blocks on file I/O or keeps its
//!   own idea of what was already stored.

pub mod log;
mod messages;

pub use log::LogConfig;
pub use messages::{FileMessageStore, FileMessageStoreConfig};
