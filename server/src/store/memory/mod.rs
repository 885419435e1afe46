//! In-memory stores for unit tests: the same promises as the file store (`store::contract`
//! checks both), without a data directory. Nothing survives the value being dropped.

pub mod accounts;
pub mod messages;
pub mod rooms;

pub use accounts::MemoryAccounts;
pub use messages::MemoryMessageStore;
pub use rooms::MemoryRooms;
