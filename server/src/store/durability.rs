//! What "stored" means, named per backend so it can be logged, documented and tested against.

/// When a store's `Ok` means a write survives, and what it survives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// The file store: the batch was written and `fdatasync`ed before the call returned. It
    /// survives a crash of the process and a power loss (on a disk that honours flushes).
    Fdatasync,
    /// PostgreSQL: the batch's transaction committed (with `synchronous_commit = on`: its WAL
    /// is flushed on the database's disk) before the call returned. It survives a crash of the
    /// node and of the database; with an asynchronous standby, a failover can lose the newest
    /// commits.
    Commit,
    /// Kept in memory only (the test store): gone when the process ends.
    Memory,
}

impl std::fmt::Display for Durability {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Fdatasync => "written and fdatasync'ed before the ack",
            Self::Commit => "committed by PostgreSQL before the ack",
            Self::Memory => "in memory only, lost at exit",
        })
    }
}
