//! The standard `process_*` metrics (CPU, memory, file descriptors, start
//! time), read from `/proc` when gathered, under the names every Prometheus
//! client's process collector uses, so dashboards made for other exporters
//! work unchanged. Written here rather than through the `prometheus`
//! crate's `process` feature, which brings in the whole `procfs` crate for
//! five numbers.

use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{Counter, Gauge, Opts};

/// What `/proc/self/stat` and friends say, in base units.
#[derive(Debug, Default, PartialEq)]
struct Sample {
    cpu_seconds: f64,
    resident_bytes: f64,
    virtual_bytes: f64,
    start_time_seconds: f64,
}

/// Collects the process metrics at each gathering.
pub(super) struct ProcessCollector {
    cpu: Counter,
    resident: Gauge,
    virtual_memory: Gauge,
    start_time: Gauge,
    open_fds: Gauge,
    max_fds: Gauge,
    descs: Vec<Desc>,
}

impl ProcessCollector {
    pub(super) fn new() -> prometheus::Result<ProcessCollector> {
        let gauge = |name: &str, help: &str| Gauge::with_opts(Opts::new(name, help));
        let cpu = Counter::with_opts(Opts::new(
            "process_cpu_seconds_total",
            "Total user and system CPU time spent in seconds.",
        ))?;
        let resident = gauge("process_resident_memory_bytes", "Resident memory size in bytes.")?;
        let virtual_memory = gauge("process_virtual_memory_bytes", "Virtual memory size in bytes.")?;
        let start_time = gauge(
            "process_start_time_seconds",
            "Start time of the process since unix epoch in seconds.",
        )?;
        let open_fds = gauge("process_open_fds", "Number of open file descriptors.")?;
        let max_fds = gauge("process_max_fds", "Maximum number of open file descriptors.")?;
        let mut descs = Vec::new();
        for c in [&resident, &virtual_memory, &start_time, &open_fds, &max_fds] {
            descs.extend(c.desc().into_iter().cloned());
        }
        descs.extend(cpu.desc().into_iter().cloned());
        Ok(ProcessCollector {
            cpu,
            resident,
            virtual_memory,
            start_time,
            open_fds,
            max_fds,
            descs,
        })
    }
}

impl Collector for ProcessCollector {
    fn desc(&self) -> Vec<&Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let mut families = Vec::new();
        // A value that cannot be read is left out rather than exported as
        // 0, which would read as a real measurement.
        if let Some(sample) = read_sample() {
            // A counter only goes up: add what was spent since last time.
            let spent = sample.cpu_seconds - self.cpu.get();
            if spent > 0.0 {
                self.cpu.inc_by(spent);
            }
            self.resident.set(sample.resident_bytes);
            self.virtual_memory.set(sample.virtual_bytes);
            self.start_time.set(sample.start_time_seconds);
            for c in [&self.resident, &self.virtual_memory, &self.start_time] {
                families.extend(c.collect());
            }
            families.extend(self.cpu.collect());
        }
        if let Some(open) = open_fds() {
            self.open_fds.set(open as f64);
            families.extend(self.open_fds.collect());
        }
        if let Some(max) = max_fds() {
            self.max_fds.set(max);
            families.extend(self.max_fds.collect());
        }
        families
    }
}

fn sysconf(name: libc::c_int) -> Option<f64> {
    // SAFETY: sysconf reads a system constant and touches no memory of ours.
    let value = unsafe { libc::sysconf(name) };
    (value > 0).then_some(value as f64)
}

fn read_sample() -> Option<Sample> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let boot_time = std::fs::read_to_string("/proc/stat")
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|v| v.trim().parse::<f64>().ok())?;
    parse_stat(
        &stat,
        sysconf(libc::_SC_CLK_TCK)?,
        sysconf(libc::_SC_PAGESIZE)?,
        boot_time,
    )
}

/// Reads `/proc/self/stat` (see proc(5)): the command name comes in
/// parentheses and may hold spaces, so fields are counted after its `)`.
fn parse_stat(stat: &str, ticks_per_second: f64, page_size: f64, boot_time: f64) -> Option<Sample> {
    let (_, rest) = stat.rsplit_once(')')?;
    // Field 3 (state) is the first after the name.
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |n: usize| fields.get(n - 3).and_then(|f| f.parse::<f64>().ok());
    Some(Sample {
        cpu_seconds: (field(14)? + field(15)?) / ticks_per_second,
        start_time_seconds: boot_time + field(22)? / ticks_per_second,
        virtual_bytes: field(23)?,
        resident_bytes: field(24)? * page_size,
    })
}

fn open_fds() -> Option<usize> {
    // The directory's own descriptor, open while it is read, is counted too,
    // as in the Go and Python clients.
    Some(std::fs::read_dir("/proc/self/fd").ok()?.count())
}

fn max_fds() -> Option<f64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct it is given and nothing else.
    let ok = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0;
    (ok && limit.rlim_cur != libc::RLIM_INFINITY).then_some(limit.rlim_cur as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_command_name_with_spaces_and_parentheses_does_not_shift_the_fields() {
        // From proc(5)'s layout: utime 250, stime 50, starttime 1000,
        // vsize 123456789, rss 300 pages.
        let stat = "4242 (cdn (quota) d) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 3 0 1000 123456789 300 18446744073709551615";
        let sample = parse_stat(stat, 100.0, 4096.0, 1_700_000_000.0).expect("parsed");
        assert_eq!(
            sample,
            Sample {
                cpu_seconds: 3.0,
                resident_bytes: 300.0 * 4096.0,
                virtual_bytes: 123_456_789.0,
                start_time_seconds: 1_700_000_010.0,
            }
        );
    }

    #[test]
    fn a_cut_off_line_is_not_read_as_zeros() {
        assert_eq!(parse_stat("4242 (cdnquota) S 1 2 3", 100.0, 4096.0, 0.0), None);
    }

    #[test]
    fn this_process_is_measured() {
        let families = ProcessCollector::new().expect("valid metrics").collect();
        let names: Vec<&str> = families.iter().map(|f| f.name()).collect();
        for name in [
            "process_cpu_seconds_total",
            "process_resident_memory_bytes",
            "process_start_time_seconds",
            "process_open_fds",
            "process_max_fds",
        ] {
            assert!(names.contains(&name), "{name} missing from {names:?}");
        }
        let value = |name: &str| {
            families
                .iter()
                .find(|f| f.name() == name)
                .map(|f| f.get_metric()[0].get_gauge().get_value())
        };
        assert!(value("process_resident_memory_bytes").is_some_and(|v| v > 0.0));
        assert!(value("process_open_fds").is_some_and(|v| v >= 3.0));
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or_default();
        assert!(value("process_start_time_seconds").is_some_and(|v| v <= now + 1.0 && v > now - 86_400.0));
    }
}
