//! CPU time of a process, from `/proc/<pid>/stat`, to say who used the cores during the burst.
//!
//! The generator usually shares the machine with the server it tests; a throughput figure means
//! little without knowing how much of the CPU the generator itself took. Linux only: elsewhere,
//! or for a process that is gone, there is simply no figure.

use std::time::Duration;

/// User plus system CPU time `pid` (or this process, for `None`) has used so far.
pub fn used(pid: Option<u32>) -> Option<Duration> {
    let path = match pid {
        Some(pid) => format!("/proc/{pid}/stat"),
        None => "/proc/self/stat".to_owned(),
    };
    let stat = std::fs::read_to_string(path).ok()?;
    ticks_to_duration(parse_ticks(&stat)?)
}

/// The CPU time `pids` have used so far, summed (`None` for no pids, or when one is gone).
pub fn used_by(pids: &[u32]) -> Option<Duration> {
    if pids.is_empty() {
        return None;
    }
    pids.iter().map(|pid| used(Some(*pid))).sum()
}

/// utime + stime from a `stat` line. The command name (field 2) may hold spaces and parentheses,
/// so fields are counted from the last `)`.
fn parse_ticks(stat: &str) -> Option<u64> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_name.split_whitespace();
    // After the name: state is field 3, utime field 14 and stime field 15.
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

fn ticks_to_duration(ticks: u64) -> Option<Duration> {
    // SAFETY: sysconf only reads a system constant.
    let per_sec = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    let per_sec = u64::try_from(per_sec).ok().filter(|&n| n > 0)?;
    Some(Duration::from_secs_f64(ticks as f64 / per_sec as f64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_user_and_system_time_even_when_the_name_has_spaces() {
        let stat = "42 (my (odd) name) S 1 42 42 0 -1 4194560 100 0 0 0 250 70 0 0 20 0 3 0";
        assert_eq!(parse_ticks(stat), Some(320));
        assert_eq!(parse_ticks("garbage"), None);
    }

    #[test]
    fn this_process_and_a_missing_one() {
        assert!(used(None).is_some());
        assert!(used(Some(u32::MAX)).is_none());
    }
}
