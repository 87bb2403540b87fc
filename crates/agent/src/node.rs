//! node_exporter bodies → [`NodeMetrics`], and the one-hour concentrator ring of seed 001.
//!
//! Gauges are read as they are; rates and busy shares come from the counters of the node's
//! last two scrapes (a counter that went down was reset: that interval gives no rate). Names
//! and labels are node_exporter's (metrics-formats.md §5). A figure the node does not expose
//! stays `None`, never zero.

use std::collections::{BTreeMap, HashMap, VecDeque};

use atlhyper_model::{
    CpuMetrics, DiskMetrics, FilesystemMetrics, MemoryMetrics, NetworkMetrics, NodeMetrics, NodePoint,
    NodeSeries, PsiMetrics, TemperatureMetrics, TemperatureSensor, Timestamp,
};
use atlhyper_promtext::{Sample, Scrape};

/// Filesystems that hold no node data (node_exporter's own default exclusions, plus overlay).
const PSEUDO_FILESYSTEMS: [&str; 12] = [
    "tmpfs",
    "overlay",
    "squashfs",
    "devtmpfs",
    "proc",
    "sysfs",
    "cgroup",
    "cgroup2",
    "nsfs",
    "autofs",
    "fuse.lxcfs",
    "ramfs",
];
/// hwmon chips and thermal zones that measure the CPU.
const CPU_SENSOR_HINTS: [&str; 5] = ["coretemp", "k10temp", "cpu", "zenpower", "soc"];
/// Minutes the concentrator keeps per node (seed 001: 60 one-minute points).
pub const RING_MINUTES: usize = 60;

/// The counters of one scrape, by name and the labels that identify them.
#[derive(Debug, Default, Clone)]
struct Counters {
    at_ms: i64,
    values: HashMap<String, f64>,
}

/// Rates need the previous scrape of each node: this keeps it.
#[derive(Debug, Default)]
pub struct NodeRates {
    previous: HashMap<String, Counters>,
}

impl NodeRates {
    /// Reads one node_exporter scrape of `node` taken at `at_ms`.
    pub fn observe(&mut self, node: &str, at_ms: i64, scrape: &Scrape<'_>) -> NodeMetrics {
        let current = counters_of(at_ms, scrape);
        let previous = self.previous.insert(node.to_owned(), current.clone());
        let rates = Rates {
            previous: previous.as_ref(),
            current: &current,
        };
        NodeMetrics {
            node: node.to_owned(),
            timestamp: Timestamp(at_ms),
            cpu: cpu(scrape, &rates),
            memory: memory(scrape),
            disks: disks(scrape, &rates),
            filesystems: filesystems(scrape),
            networks: networks(scrape, &rates),
            psi: psi(&rates),
            temperature: temperature(scrape),
            uptime_seconds: uptime(scrape),
        }
    }

    /// Forgets nodes not in `keep` (deleted nodes).
    pub fn retain(&mut self, keep: &dyn Fn(&str) -> bool) {
        self.previous.retain(|node, _| keep(node));
    }
}

struct Rates<'a> {
    previous: Option<&'a Counters>,
    current: &'a Counters,
}

impl Rates<'_> {
    /// Per-second increase of the counter `key` between the two scrapes.
    fn per_sec(&self, key: &str) -> Option<f64> {
        let previous = self.previous?;
        let seconds = (self.current.at_ms - previous.at_ms) as f64 / 1000.0;
        let (before, now) = (previous.values.get(key)?, self.current.values.get(key)?);
        (seconds > 0.0 && now >= before).then(|| (now - before) / seconds)
    }

    /// Share (0–100) of wall time the counter of seconds `key` advanced.
    fn pct_of_time(&self, key: &str) -> Option<f64> {
        self.per_sec(key).map(|r| (r * 100.0).clamp(0.0, 100.0))
    }
}

fn counter_key(sample: &Sample<'_>, label: Option<&str>) -> String {
    match label.and_then(|l| sample.label(l)) {
        Some(value) => format!("{}\u{0}{value}", sample.name),
        None => sample.name.to_owned(),
    }
}

/// The counters rates are computed from: per-mode CPU seconds summed over cores, and the
/// per-device disk, network and PSI counters.
fn counters_of(at_ms: i64, scrape: &Scrape<'_>) -> Counters {
    let mut values = HashMap::new();
    for sample in &scrape.samples {
        let key = match sample.name {
            "node_cpu_seconds_total" => counter_key(sample, Some("mode")),
            n if n.starts_with("node_disk_") && n.ends_with("_total") => counter_key(sample, Some("device")),
            n if n.starts_with("node_network_") && n.ends_with("_total") => {
                counter_key(sample, Some("device"))
            }
            n if n.starts_with("node_pressure_") => counter_key(sample, None),
            _ => continue,
        };
        *values.entry(key).or_insert(0.0) += sample.value;
    }
    Counters { at_ms, values }
}

fn gauge(scrape: &Scrape<'_>, name: &str) -> Option<f64> {
    scrape
        .samples
        .iter()
        .find(|s| s.name == name)
        .map(|s| s.value)
        .filter(|v| v.is_finite())
}

fn cpu(scrape: &Scrape<'_>, rates: &Rates<'_>) -> CpuMetrics {
    let mode = |m: &str| rates.per_sec(&format!("node_cpu_seconds_total\u{0}{m}"));
    let modes = [
        "idle", "iowait", "irq", "nice", "softirq", "steal", "system", "user",
    ];
    let all: f64 = modes.iter().filter_map(|m| mode(m)).sum();
    let share = |m: &str| mode(m).filter(|_| all > 0.0).map(|v| 100.0 * v / all);
    let cores = label_values(scrape, "node_cpu_seconds_total", "cpu");
    CpuMetrics {
        usage_pct: share("idle").map(|idle| 100.0 - idle),
        user_pct: share("user"),
        system_pct: share("system"),
        iowait_pct: share("iowait"),
        cores: (!cores.is_empty()).then(|| u32::try_from(cores.len()).unwrap_or(u32::MAX)),
        load1: gauge(scrape, "node_load1"),
        load5: gauge(scrape, "node_load5"),
        load15: gauge(scrape, "node_load15"),
    }
}

fn memory(scrape: &Scrape<'_>) -> MemoryMetrics {
    let get = |field: &str| gauge(scrape, &format!("node_memory_{field}_bytes"));
    let (total, available) = (get("MemTotal"), get("MemAvailable"));
    let (swap_total, swap_free) = (get("SwapTotal"), get("SwapFree"));
    MemoryMetrics {
        total_bytes: total,
        available_bytes: available,
        free_bytes: get("MemFree"),
        cached_bytes: get("Cached"),
        buffers_bytes: get("Buffers"),
        usage_pct: used_pct(total, available),
        swap_total_bytes: swap_total,
        swap_free_bytes: swap_free,
        swap_usage_pct: used_pct(swap_total, swap_free),
    }
}

fn used_pct(total: Option<f64>, free: Option<f64>) -> Option<f64> {
    let (total, free) = (total?, free?);
    (total > 0.0).then(|| (100.0 * (1.0 - free / total)).clamp(0.0, 100.0))
}

/// The distinct values of `label` over samples named `name`, sorted.
fn label_values(scrape: &Scrape<'_>, name: &str, label: &str) -> Vec<String> {
    let mut values: Vec<String> = scrape
        .samples
        .iter()
        .filter(|s| s.name == name)
        .filter_map(|s| s.label(label).map(|v| v.into_owned()))
        .collect();
    values.sort();
    values.dedup();
    values
}

fn disks(scrape: &Scrape<'_>, rates: &Rates<'_>) -> Vec<DiskMetrics> {
    label_values(scrape, "node_disk_read_bytes_total", "device")
        .into_iter()
        .map(|device| {
            let rate = |name: &str| rates.per_sec(&format!("{name}\u{0}{device}"));
            DiskMetrics {
                read_bytes_per_sec: rate("node_disk_read_bytes_total"),
                written_bytes_per_sec: rate("node_disk_written_bytes_total"),
                reads_per_sec: rate("node_disk_reads_completed_total"),
                writes_per_sec: rate("node_disk_writes_completed_total"),
                io_util_pct: rates.pct_of_time(&format!("node_disk_io_time_seconds_total\u{0}{device}")),
                device,
            }
        })
        .collect()
}

fn filesystems(scrape: &Scrape<'_>) -> Vec<FilesystemMetrics> {
    let mut out: BTreeMap<String, FilesystemMetrics> = BTreeMap::new();
    for sample in &scrape.samples {
        let is_size = sample.name == "node_filesystem_size_bytes";
        if !is_size && sample.name != "node_filesystem_avail_bytes" {
            continue;
        }
        let fstype = sample.label("fstype").unwrap_or_default();
        if PSEUDO_FILESYSTEMS.contains(&&*fstype) {
            continue;
        }
        let mountpoint = sample.label("mountpoint").unwrap_or_default().into_owned();
        let fs = out
            .entry(mountpoint.clone())
            .or_insert_with(|| FilesystemMetrics {
                mountpoint,
                device: sample.label("device").unwrap_or_default().into_owned(),
                fstype: fstype.into_owned(),
                ..FilesystemMetrics::default()
            });
        if is_size {
            fs.size_bytes = sample.value;
        } else {
            fs.avail_bytes = sample.value;
        }
    }
    out.into_values()
        .map(|mut fs| {
            fs.usage_pct = used_pct(Some(fs.size_bytes), Some(fs.avail_bytes));
            fs
        })
        .collect()
}

fn networks(scrape: &Scrape<'_>, rates: &Rates<'_>) -> Vec<NetworkMetrics> {
    label_values(scrape, "node_network_receive_bytes_total", "device")
        .into_iter()
        .filter(|device| device != "lo")
        .map(|device| {
            let rate = |name: &str| rates.per_sec(&format!("node_network_{name}_total\u{0}{device}"));
            let up = scrape
                .samples
                .iter()
                .find(|s| s.name == "node_network_up" && s.labels.get("device").as_deref() == Some(&device))
                .map(|s| s.value > 0.0);
            NetworkMetrics {
                up,
                receive_bytes_per_sec: rate("receive_bytes"),
                transmit_bytes_per_sec: rate("transmit_bytes"),
                receive_packets_per_sec: rate("receive_packets"),
                transmit_packets_per_sec: rate("transmit_packets"),
                receive_errors_per_sec: rate("receive_errs"),
                transmit_errors_per_sec: rate("transmit_errs"),
                receive_drops_per_sec: rate("receive_drop"),
                transmit_drops_per_sec: rate("transmit_drop"),
                device,
            }
        })
        .collect()
}

/// PSI counters are seconds stalled: their rate is the stalled share of wall time.
fn psi(rates: &Rates<'_>) -> PsiMetrics {
    let pct = |name: &str| rates.pct_of_time(&format!("node_pressure_{name}_seconds_total"));
    PsiMetrics {
        cpu_some_pct: pct("cpu_waiting"),
        memory_some_pct: pct("memory_waiting"),
        memory_full_pct: pct("memory_stalled"),
        io_some_pct: pct("io_waiting"),
        io_full_pct: pct("io_stalled"),
    }
}

fn temperature(scrape: &Scrape<'_>) -> TemperatureMetrics {
    let chip_names: HashMap<String, String> = scrape
        .samples
        .iter()
        .filter(|s| s.name == "node_hwmon_chip_names")
        .filter_map(|s| Some((s.label("chip")?.into_owned(), s.label("chip_name")?.into_owned())))
        .collect();
    let limit = |name: &str, chip: &str, sensor: &str| {
        scrape
            .samples
            .iter()
            .find(|s| {
                s.name == name
                    && s.labels.get("chip").as_deref() == Some(chip)
                    && s.labels.get("sensor").as_deref() == Some(sensor)
            })
            .map(|s| s.value)
    };
    let mut sensors = Vec::new();
    let mut cpu_celsius: Option<f64> = None;
    for sample in scrape
        .samples
        .iter()
        .filter(|s| s.name == "node_hwmon_temp_celsius")
    {
        let chip = sample.label("chip").unwrap_or_default().into_owned();
        let sensor = sample.label("sensor").unwrap_or_default().into_owned();
        let chip_name = chip_names.get(&chip).cloned().unwrap_or_else(|| chip.clone());
        if is_cpu_sensor(&chip_name) {
            cpu_celsius = Some(cpu_celsius.map_or(sample.value, |c| c.max(sample.value)));
        }
        sensors.push(TemperatureSensor {
            max_celsius: limit("node_hwmon_temp_max_celsius", &chip, &sensor),
            crit_celsius: limit("node_hwmon_temp_crit_celsius", &chip, &sensor),
            chip: chip_name,
            sensor,
            celsius: sample.value,
        });
    }
    for zone in scrape
        .samples
        .iter()
        .filter(|s| s.name == "node_thermal_zone_temp")
    {
        if zone.label("type").is_some_and(|t| is_cpu_sensor(&t)) {
            cpu_celsius = Some(cpu_celsius.map_or(zone.value, |c| c.max(zone.value)));
        }
    }
    TemperatureMetrics { cpu_celsius, sensors }
}

fn is_cpu_sensor(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    CPU_SENSOR_HINTS.iter().any(|hint| name.contains(hint))
}

fn uptime(scrape: &Scrape<'_>) -> Option<f64> {
    Some(gauge(scrape, "node_time_seconds")? - gauge(scrape, "node_boot_time_seconds")?)
}

/// The concentrator: each node's last hour at one-minute resolution, the last figures of
/// each minute, oldest first.
#[derive(Debug, Default)]
pub struct Concentrator {
    rings: BTreeMap<String, VecDeque<NodePoint>>,
}

impl Concentrator {
    pub fn record(&mut self, metrics: &NodeMetrics) {
        let minute = Timestamp(metrics.timestamp.0.div_euclid(60_000) * 60_000);
        let point = point_of(minute, metrics);
        let ring = self.rings.entry(metrics.node.clone()).or_default();
        match ring.back_mut() {
            Some(last) if last.minute == minute => *last = point,
            _ => ring.push_back(point),
        }
        while ring
            .front()
            .is_some_and(|p| minute.0 - p.minute.0 >= RING_MINUTES as i64 * 60_000)
        {
            ring.pop_front();
        }
    }

    /// Forgets nodes not in `keep`.
    pub fn retain(&mut self, keep: &dyn Fn(&str) -> bool) {
        self.rings.retain(|node, _| keep(node));
    }

    pub fn series(&self) -> Vec<NodeSeries> {
        self.rings
            .iter()
            .map(|(node, ring)| NodeSeries {
                node: node.clone(),
                points: ring.iter().cloned().collect(),
            })
            .collect()
    }
}

fn point_of(minute: Timestamp, m: &NodeMetrics) -> NodePoint {
    let sum = |f: fn(&NetworkMetrics) -> Option<f64>| -> Option<f64> {
        let values: Vec<f64> = m.networks.iter().filter_map(f).collect();
        (!values.is_empty()).then(|| values.iter().sum())
    };
    NodePoint {
        minute,
        cpu_pct: m.cpu.usage_pct,
        memory_pct: m.memory.usage_pct,
        load1: m.cpu.load1,
        disk_pct: m.filesystems.iter().filter_map(|f| f.usage_pct).reduce(f64::max),
        network_receive_bytes_per_sec: sum(|n| n.receive_bytes_per_sec),
        network_transmit_bytes_per_sec: sum(|n| n.transmit_bytes_per_sec),
        psi_cpu_some_pct: m.psi.cpu_some_pct,
        psi_memory_some_pct: m.psi.memory_some_pct,
        psi_io_some_pct: m.psi.io_some_pct,
        cpu_celsius: m.temperature.cpu_celsius,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(idle: f64, user: f64, rx: f64, psi_mem: f64) -> String {
        format!(
            "# TYPE node_cpu_seconds_total counter\n\
             node_cpu_seconds_total{{cpu=\"0\",mode=\"idle\"}} {idle}\n\
             node_cpu_seconds_total{{cpu=\"0\",mode=\"user\"}} {user}\n\
             node_cpu_seconds_total{{cpu=\"1\",mode=\"idle\"}} {idle}\n\
             node_cpu_seconds_total{{cpu=\"1\",mode=\"user\"}} {user}\n\
             node_load1 0.5\n\
             node_memory_MemTotal_bytes 1000\n\
             node_memory_MemAvailable_bytes 250\n\
             node_filesystem_size_bytes{{device=\"/dev/sda1\",fstype=\"ext4\",mountpoint=\"/\"}} 100\n\
             node_filesystem_avail_bytes{{device=\"/dev/sda1\",fstype=\"ext4\",mountpoint=\"/\"}} 40\n\
             node_filesystem_size_bytes{{device=\"tmpfs\",fstype=\"tmpfs\",mountpoint=\"/run\"}} 10\n\
             node_network_receive_bytes_total{{device=\"eth0\"}} {rx}\n\
             node_network_receive_bytes_total{{device=\"lo\"}} 5\n\
             node_network_up{{device=\"eth0\"}} 1\n\
             node_pressure_memory_waiting_seconds_total {psi_mem}\n\
             node_hwmon_chip_names{{chip=\"platform_coretemp_0\",chip_name=\"coretemp\"}} 1\n\
             node_hwmon_temp_celsius{{chip=\"platform_coretemp_0\",sensor=\"temp1\"}} 61\n\
             node_hwmon_temp_crit_celsius{{chip=\"platform_coretemp_0\",sensor=\"temp1\"}} 100\n\
             node_boot_time_seconds 1000\n\
             node_time_seconds 4600\n"
        )
    }

    #[test]
    fn gauges_at_once_rates_from_the_second_scrape() {
        let mut rates = NodeRates::default();
        let first = body(100.0, 100.0, 1000.0, 1.0);
        let m = rates.observe("n1", 0, &atlhyper_promtext::parse(&first).unwrap());
        assert_eq!(m.cpu.usage_pct, None, "no rate from one scrape");
        assert_eq!(m.memory.usage_pct, Some(75.0));
        assert_eq!(m.filesystems.len(), 1, "tmpfs is left out");
        assert_eq!(m.filesystems[0].usage_pct, Some(60.0));
        assert_eq!(m.uptime_seconds, Some(3600.0));
        assert_eq!(m.temperature.cpu_celsius, Some(61.0));
        assert_eq!(m.temperature.sensors[0].crit_celsius, Some(100.0));
        assert_eq!(m.cpu.cores, Some(2));

        // 10 s later: each core 7.5 s idle, 2.5 s user → 25 % busy; 3 s of 10 memory-stalled.
        let second = body(107.5, 102.5, 6000.0, 4.0);
        let m = rates.observe("n1", 10_000, &atlhyper_promtext::parse(&second).unwrap());
        assert_eq!(m.cpu.usage_pct, Some(25.0));
        assert_eq!(m.cpu.user_pct, Some(25.0));
        assert_eq!(m.networks.len(), 1, "loopback is left out");
        assert_eq!(m.networks[0].receive_bytes_per_sec, Some(500.0));
        assert_eq!(m.networks[0].up, Some(true));
        assert_eq!(m.psi.memory_some_pct, Some(30.0));
        assert_eq!(m.psi.cpu_some_pct, None, "not exposed");
    }

    #[test]
    fn a_reset_counter_gives_no_rate() {
        let mut rates = NodeRates::default();
        let a = body(100.0, 100.0, 1000.0, 1.0);
        let b = body(1.0, 1.0, 10.0, 0.0);
        rates.observe("n1", 0, &atlhyper_promtext::parse(&a).unwrap());
        let m = rates.observe("n1", 10_000, &atlhyper_promtext::parse(&b).unwrap());
        assert_eq!(m.networks[0].receive_bytes_per_sec, None);
        assert_eq!(m.cpu.usage_pct, None);
    }

    #[test]
    fn the_ring_keeps_one_point_per_minute_for_an_hour() {
        let mut ring = Concentrator::default();
        for i in 0..(2 * 70) {
            let metrics = NodeMetrics {
                node: "n1".into(),
                timestamp: Timestamp(i * 30_000),
                cpu: CpuMetrics {
                    usage_pct: Some(i as f64),
                    ..CpuMetrics::default()
                },
                ..NodeMetrics::default()
            };
            ring.record(&metrics);
        }
        let series = ring.series();
        let points = &series[0].points;
        assert_eq!(points.len(), RING_MINUTES);
        assert_eq!(points.last().unwrap().minute, Timestamp(69 * 60_000));
        assert_eq!(
            points.last().unwrap().cpu_pct,
            Some(139.0),
            "the minute's last figures"
        );
        assert_eq!(points[0].minute, Timestamp(10 * 60_000));
    }
}
