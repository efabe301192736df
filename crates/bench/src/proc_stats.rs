//! CPU time and memory of this process from `/proc` (Linux), split by thread name so that the
//! server's CPU is told apart from the load generator's and the fakes' in the same process.

use std::collections::BTreeMap;

/// Thread-name prefix of the load generator's runtime.
pub const LOAD_THREAD_PREFIX: &str = "load-";
/// Thread-name prefix of the fakes' runtime.
pub const FAKE_THREAD_PREFIX: &str = "fake-";

/// CPU seconds by owner at one instant.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CpuSample {
    /// Everything but the load generator and the fakes: the server runtime, its blocking
    /// threads, the SQLite worker, the main thread.
    pub server_s: f64,
    /// The simulated callers.
    pub load_s: f64,
    /// The fake Deepgram servers.
    pub fakes_s: f64,
}

impl CpuSample {
    /// CPU spent between `earlier` and `self`.
    pub fn since(&self, earlier: &CpuSample) -> CpuSample {
        CpuSample {
            server_s: self.server_s - earlier.server_s,
            load_s: self.load_s - earlier.load_s,
            fakes_s: self.fakes_s - earlier.fakes_s,
        }
    }
}

fn clock_ticks() -> f64 {
    // USER_HZ is 100 on every Linux ABI in use; reading it needs libc's sysconf.
    100.0
}

/// utime + stime in seconds from a `stat` line (fields after the `(comm)`).
fn stat_cpu_seconds(stat: &str) -> Option<f64> {
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // After the comm: state(0) ... utime is field 14 of the full line = index 11 here.
    let utime: f64 = f.get(11)?.parse().ok()?;
    let stime: f64 = f.get(12)?.parse().ok()?;
    Some((utime + stime) / clock_ticks())
}

/// Reads every live thread's CPU time. Threads that already exited are lost, which is why
/// runtimes in the benchmark keep their threads alive for the whole run.
pub fn cpu_by_owner() -> CpuSample {
    let mut out = CpuSample::default();
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return out;
    };
    let mut names: BTreeMap<String, f64> = BTreeMap::new();
    for entry in dir.flatten() {
        let p = entry.path();
        let comm = std::fs::read_to_string(p.join("comm")).unwrap_or_default();
        let Some(cpu) = std::fs::read_to_string(p.join("stat"))
            .ok()
            .and_then(|s| stat_cpu_seconds(&s))
        else {
            continue;
        };
        *names.entry(comm.trim().to_owned()).or_default() += cpu;
    }
    for (name, cpu) in names {
        if name.starts_with(LOAD_THREAD_PREFIX) {
            out.load_s += cpu;
        } else if name.starts_with(FAKE_THREAD_PREFIX) {
            out.fakes_s += cpu;
        } else {
            out.server_s += cpu;
        }
    }
    out
}

/// Resident set size of the process in bytes (`VmRSS`), 0 when unknown.
pub fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

/// The load average and the other processes running right now (state `R`), so a result says
/// how busy the machine was while it was measured.
pub fn machine_load() -> String {
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let me = std::process::id().to_string();
    let mut running: Vec<String> = Vec::new();
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for e in dir.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name == me || !name.chars().all(|c| c.is_ascii_digit()) {
                continue;
            }
            let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
                continue;
            };
            let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
                continue;
            };
            if stat[close + 1..].trim_start().starts_with('R') {
                running.push(stat[open + 1..close].to_owned());
            }
        }
    }
    running.sort();
    format!(
        "load average {} on {cpus} CPUs; other processes running: {}",
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" "),
        if running.is_empty() {
            "none".to_owned()
        } else {
            running.join(", ")
        }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_line_with_spaces_in_comm_gives_utime_plus_stime() {
        let line = "42 (tokio runtime) S 1 42 42 0 -1 4194304 100 0 0 0 250 50 0 0 20 0 1 0 1 1 1";
        assert_eq!(stat_cpu_seconds(line), Some(3.0));
    }

    #[test]
    fn this_process_has_cpu_time_and_memory() {
        let mut x = 0u64;
        for i in 0..5_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        let cpu = cpu_by_owner();
        assert!(cpu.server_s + cpu.load_s + cpu.fakes_s >= 0.0);
        assert!(rss_bytes() > 0);
        assert!(machine_load().contains("load average"));
    }
}
