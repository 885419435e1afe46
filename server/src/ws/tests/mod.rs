//! The connection loop driven through channels instead of a socket, over the in-memory store and
//! membership, the processor replaced by one that stores at once ([`harness`]). One file per
//! job of the connection: [`delivery`] (subscribe, replay, live, catch-up, acks), [`revocation`]
//! (leaves, the session's end, bus resyncs), [`liveness`] (shutdown grace, pings, stalled
//! peers) and [`framing`] (several frames a message, and when a busy socket's are held).

mod delivery;
mod framing;
mod harness;
mod liveness;
mod revocation;
mod user_stream;
