//! The contracts every store implementation must keep, one file per noun, each written once
//! and run against every implementation (the file store, the in-memory one and PostgreSQL, on a
//! scratch cluster; a new backend adds itself to each file's list).

mod accounts_rooms;
pub(crate) mod messages;

pub(crate) use messages::{contract_tests, delete, edit, new, said, Subject};
