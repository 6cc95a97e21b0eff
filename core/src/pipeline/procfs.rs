//! The demo's host metrics source: CPU, memory, network and processes of this machine, read from /proc.
//!
//! Parsing is split from reading so that the parsers are tested on fixed text; [`HostSampler`] keeps the
//! previous counters to turn cumulative ones (CPU jiffies, network bytes) into rates.

use crate::error::{Error, Result};

/// One sampled value: metric name, tags, value.
pub type Sample = (&'static str, Vec<(String, String)>, f64);

/// CPU time counters of one `cpu` line of /proc/stat.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CpuTimes {
    /// Jiffies spent busy (everything but idle and iowait).
    pub busy: u64,
    /// All jiffies.
    pub total: u64,
}

/// Parses /proc/stat into the aggregate line and one entry per core (`cpu0`, `cpu1`, ...).
pub fn parse_stat(text: &str) -> Result<(CpuTimes, Vec<CpuTimes>)> {
    let mut all = None;
    let mut cores = Vec::new();
    for line in text.lines() {
        let mut parts = line.split_whitespace();
        let Some(name) = parts.next() else { continue };
        if !name.starts_with("cpu") {
            continue;
        }
        let nums: Vec<u64> = parts.map(|p| p.parse::<u64>().unwrap_or(0)).collect();
        if nums.len() < 4 {
            return Err(Error::Io(format!("unexpected /proc/stat line: {line}")));
        }
        let total: u64 = nums.iter().take(8).sum();
        let idle = nums[3] + nums.get(4).copied().unwrap_or(0);
        let t = CpuTimes {
            busy: total.saturating_sub(idle),
            total,
        };
        if name == "cpu" {
            all = Some(t);
        } else {
            cores.push(t);
        }
    }
    all.map(|a| (a, cores))
        .ok_or_else(|| Error::Io("no cpu line in /proc/stat".into()))
}

/// Parses /proc/meminfo into (total, available) in kB.
pub fn parse_meminfo(text: &str) -> Result<(u64, u64)> {
    let field = |key: &str| {
        text.lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
    };
    match (field("MemTotal:"), field("MemAvailable:")) {
        (Some(t), Some(a)) => Ok((t, a)),
        _ => Err(Error::Io(
            "MemTotal / MemAvailable missing from /proc/meminfo".into(),
        )),
    }
}

/// Parses /proc/net/dev into total (received, transmitted) bytes over every interface but `lo`.
pub fn parse_net_dev(text: &str) -> (u64, u64) {
    let mut rx = 0;
    let mut tx = 0;
    for line in text.lines().skip(2) {
        let Some((iface, rest)) = line.split_once(':') else {
            continue;
        };
        if iface.trim() == "lo" {
            continue;
        }
        let cols: Vec<u64> = rest
            .split_whitespace()
            .map(|c| c.parse().unwrap_or(0))
            .collect();
        if cols.len() >= 9 {
            rx += cols[0];
            tx += cols[8];
        }
    }
    (rx, tx)
}

/// Parses /proc/loadavg into (1-minute load, number of processes/threads).
pub fn parse_loadavg(text: &str) -> Result<(f64, u64)> {
    let mut parts = text.split_whitespace();
    let load1 = parts.next().and_then(|v| v.parse::<f64>().ok());
    let procs = parts
        .nth(2)
        .and_then(|v| v.split('/').nth(1))
        .and_then(|v| v.parse::<u64>().ok());
    match (load1, procs) {
        (Some(l), Some(p)) => Ok((l, p)),
        _ => Err(Error::Io(format!("unexpected /proc/loadavg: {text}"))),
    }
}

fn pct(busy: u64, total: u64) -> f64 {
    if total == 0 {
        0.0
    } else {
        (busy as f64 / total as f64 * 100.0).clamp(0.0, 100.0)
    }
}

/// Samples this machine's metrics, turning cumulative counters into rates between samples.
#[derive(Debug, Default)]
pub struct HostSampler {
    prev_cpu: Option<(CpuTimes, Vec<CpuTimes>)>,
    prev_net: Option<((u64, u64), std::time::Instant)>,
}

impl HostSampler {
    /// A sampler with no history (the first sample has no CPU and network rates).
    pub fn new() -> Self {
        HostSampler::default()
    }

    /// Reads /proc and returns the samples: `cpu_percent` (and per core), `mem_used_percent`,
    /// `mem_available_mb`, `net_rx_kbps`, `net_tx_kbps`, `load1`, `processes`.
    pub fn sample(&mut self) -> Result<Vec<Sample>> {
        let read = |p: &str| std::fs::read_to_string(p).map_err(|e| Error::Io(format!("{p}: {e}")));
        self.sample_from(
            &read("/proc/stat")?,
            &read("/proc/meminfo")?,
            &read("/proc/net/dev").unwrap_or_default(),
            &read("/proc/loadavg")?,
            std::time::Instant::now(),
        )
    }

    /// [`sample`](Self::sample) on given file contents (for tests).
    pub fn sample_from(
        &mut self,
        stat: &str,
        meminfo: &str,
        net_dev: &str,
        loadavg: &str,
        now: std::time::Instant,
    ) -> Result<Vec<Sample>> {
        let mut out: Vec<Sample> = Vec::new();
        let (all, cores) = parse_stat(stat)?;
        if let Some((pa, pc)) = &self.prev_cpu {
            out.push((
                "cpu_percent",
                Vec::new(),
                pct(
                    all.busy - pa.busy.min(all.busy),
                    all.total.saturating_sub(pa.total),
                ),
            ));
            for (i, (c, p)) in cores.iter().zip(pc).enumerate() {
                let v = pct(
                    c.busy.saturating_sub(p.busy),
                    c.total.saturating_sub(p.total),
                );
                out.push(("cpu_percent", vec![("core".into(), i.to_string())], v));
            }
        }
        self.prev_cpu = Some((all, cores));
        let (total, avail) = parse_meminfo(meminfo)?;
        out.push((
            "mem_used_percent",
            Vec::new(),
            pct(total.saturating_sub(avail), total),
        ));
        out.push(("mem_available_mb", Vec::new(), avail as f64 / 1024.0));
        let net = parse_net_dev(net_dev);
        if let Some(((rx, tx), at)) = self.prev_net {
            let secs = now.saturating_duration_since(at).as_secs_f64().max(1e-3);
            out.push((
                "net_rx_kbps",
                Vec::new(),
                net.0.saturating_sub(rx) as f64 * 8.0 / 1000.0 / secs,
            ));
            out.push((
                "net_tx_kbps",
                Vec::new(),
                net.1.saturating_sub(tx) as f64 * 8.0 / 1000.0 / secs,
            ));
        }
        self.prev_net = Some((net, now));
        let (load1, procs) = parse_loadavg(loadavg)?;
        out.push(("load1", Vec::new(), load1));
        out.push(("processes", Vec::new(), procs as f64));
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    const STAT1: &str = "cpu  100 0 100 800 0 0 0 0 0 0\ncpu0 50 0 50 400 0 0 0 0 0 0\ncpu1 50 0 50 400 0 0 0 0 0 0\nintr 1\n";
    const STAT2: &str = "cpu  200 0 200 900 0 0 0 0 0 0\ncpu0 150 0 50 400 0 0 0 0 0 0\ncpu1 50 0 150 500 0 0 0 0 0 0\n";
    const MEM: &str = "MemTotal:       1000 kB\nMemFree:   10 kB\nMemAvailable:    250 kB\n";
    const NET1: &str = "h1\nh2\n    lo: 999 0 0 0 0 0 0 0 999 0 0 0 0 0 0 0\n  eth0: 1000 0 0 0 0 0 0 0 2000 0 0 0 0 0 0 0\n";
    const NET2: &str = "h1\nh2\n    lo: 9999 0 0 0 0 0 0 0 9999 0 0 0 0 0 0 0\n  eth0: 126000 0 0 0 0 0 0 0 2000 0 0 0 0 0 0 0\n";
    const LOAD: &str = "1.10 1.35 1.55 1/88 20197\n";

    #[test]
    fn rates_come_from_the_difference_between_two_samples() {
        let mut s = HostSampler::new();
        let t0 = Instant::now();
        let first = s.sample_from(STAT1, MEM, NET1, LOAD, t0).unwrap();
        let names: Vec<_> = first.iter().map(|(n, _, _)| *n).collect();
        assert_eq!(
            names,
            ["mem_used_percent", "mem_available_mb", "load1", "processes"]
        );
        assert_eq!(first[0].2, 75.0);
        assert_eq!(first[3].2, 88.0);
        let second = s
            .sample_from(STAT2, MEM, NET2, LOAD, t0 + Duration::from_secs(1))
            .unwrap();
        let get = |n: &str, tag: Option<&str>| {
            second
                .iter()
                .find(|(m, t, _)| *m == n && t.first().map(|(_, v)| v.as_str()) == tag)
                .map(|(_, _, v)| *v)
        };
        // total busy 400 - 200 = 200 of 1300 - 1000 = 300 jiffies.
        assert!((get("cpu_percent", None).unwrap() - 66.666).abs() < 0.01);
        assert_eq!(get("cpu_percent", Some("0")), Some(100.0));
        assert_eq!(get("cpu_percent", Some("1")), Some(50.0));
        assert_eq!(get("net_rx_kbps", None), Some(1000.0)); // 125000 bytes in 1 s, lo ignored
        assert_eq!(get("net_tx_kbps", None), Some(0.0));
    }

    #[test]
    fn malformed_files_are_io_errors_not_panics() {
        assert_eq!(parse_stat("nothing").unwrap_err().code(), "io_error");
        assert_eq!(parse_meminfo("MemTotal: x").unwrap_err().code(), "io_error");
        assert_eq!(parse_loadavg("").unwrap_err().code(), "io_error");
        assert_eq!(parse_net_dev("garbage"), (0, 0));
    }

    #[test]
    fn this_machine_can_be_sampled() {
        let mut s = HostSampler::new();
        s.sample().unwrap();
        let samples = s.sample().unwrap();
        assert!(samples
            .iter()
            .any(|(n, _, v)| *n == "cpu_percent" && (0.0..=100.0).contains(v)));
    }
}
