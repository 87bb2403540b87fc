//! node_exporter: per-node counters advanced with the simulated load, and the exposition
//! (`/metrics` of the node-exporter pod on that node), with node_exporter's names and labels.

use std::fmt::Write as _;

use atlhyper_promtext::render_sample;

use crate::rng::Rng;

/// CPU modes in node_exporter's order.
const MODES: [&str; 8] = [
    "idle", "iowait", "irq", "nice", "softirq", "steal", "system", "user",
];

#[derive(Debug, Clone, Default)]
pub struct NodeCounters {
    pub boot_s: f64,
    /// Seconds per CPU and mode.
    pub cpu: Vec<[f64; 8]>,
    pub load1: f64,
    pub load5: f64,
    pub load15: f64,
    pub mem_available: f64,
    pub fs_avail: f64,
    pub disk_read_bytes: f64,
    pub disk_written_bytes: f64,
    pub disk_reads: f64,
    pub disk_writes: f64,
    pub disk_io_s: f64,
    pub net_rx_bytes: f64,
    pub net_tx_bytes: f64,
    pub net_rx_packets: f64,
    pub net_tx_packets: f64,
    pub psi_cpu_waiting: f64,
    pub psi_io_waiting: f64,
    pub psi_io_stalled: f64,
    pub psi_mem_waiting: f64,
    pub psi_mem_stalled: f64,
    pub temp_c: f64,
}

/// What drives a node's counters during one step.
pub struct Load {
    /// Fraction of CPU busy, 0..1.
    pub busy: f64,
    pub memory_pressure: bool,
}

impl NodeCounters {
    pub fn new(cpus: u32, memory_bytes: u64, boot_s: f64) -> Self {
        NodeCounters {
            boot_s,
            cpu: vec![[0.0; 8]; cpus as usize],
            mem_available: memory_bytes as f64 * 0.55,
            fs_avail: 61.0e9,
            temp_c: 48.0,
            ..NodeCounters::default()
        }
    }

    /// Advances every counter by `dt` seconds under `load`.
    pub fn advance(&mut self, dt: f64, load: &Load, memory_bytes: u64, rng: &mut Rng) {
        let busy = load.busy.clamp(0.01, 0.98);
        for cpu in &mut self.cpu {
            let b = (busy * (0.85 + 0.3 * rng.f64())).min(0.99);
            let parts = [
                1.0 - b,
                0.02 * b,
                0.01 * b,
                0.005 * b,
                0.03 * b,
                0.005 * b,
                0.28 * b,
                0.65 * b,
            ];
            for (c, p) in cpu.iter_mut().zip(parts) {
                *c += p * dt;
            }
        }
        let runnable = busy * self.cpu.len() as f64 * 1.1;
        // Exponentially damped averages, as the kernel computes them.
        for (avg, window) in [
            (&mut self.load1, 60.0),
            (&mut self.load5, 300.0),
            (&mut self.load15, 900.0),
        ] {
            let k = (-dt / window).exp();
            *avg = *avg * k + runnable * (1.0 - k);
        }
        let target = if load.memory_pressure {
            0.03
        } else {
            0.55 - 0.2 * busy
        };
        let k = (-dt / 120.0).exp();
        self.mem_available = self.mem_available * k + memory_bytes as f64 * target * (1.0 - k);
        self.fs_avail = (self.fs_avail - dt * 2_000.0 * busy).max(1.0e9);
        self.disk_read_bytes += dt * 350_000.0 * busy * 4.0;
        self.disk_written_bytes += dt * 900_000.0 * busy * 4.0;
        self.disk_reads += dt * 30.0 * busy * 4.0;
        self.disk_writes += dt * 80.0 * busy * 4.0;
        self.disk_io_s += dt * (0.05 + 0.2 * busy);
        self.net_rx_bytes += dt * 2.4e6 * busy;
        self.net_tx_bytes += dt * 3.1e6 * busy;
        self.net_rx_packets += dt * 2_100.0 * busy;
        self.net_tx_packets += dt * 2_400.0 * busy;
        self.psi_cpu_waiting += dt * (busy * busy * 0.2);
        self.psi_io_waiting += dt * 0.004;
        self.psi_io_stalled += dt * 0.002;
        let (mw, ms) = if load.memory_pressure {
            (0.35, 0.15)
        } else {
            (0.001, 0.0002)
        };
        self.psi_mem_waiting += dt * mw;
        self.psi_mem_stalled += dt * ms;
        let k = (-dt / 300.0).exp();
        self.temp_c = self.temp_c * k + (42.0 + 30.0 * busy) * (1.0 - k);
    }

    /// The `/metrics` body of node_exporter on this node.
    pub fn render(&self, node: &str, memory_bytes: u64, now_s: f64) -> String {
        let mut out = String::with_capacity(16 * 1024);
        let mem = memory_bytes as f64;
        family(
            &mut out,
            "node_boot_time_seconds",
            "gauge",
            "Node boot time, in unixtime.",
        );
        render_sample(&mut out, "node_boot_time_seconds", &[], self.boot_s, None);
        family(
            &mut out,
            "node_cpu_seconds_total",
            "counter",
            "Seconds the CPUs spent in each mode.",
        );
        for (i, cpu) in self.cpu.iter().enumerate() {
            let id = i.to_string();
            for (mode, v) in MODES.iter().zip(cpu) {
                render_sample(
                    &mut out,
                    "node_cpu_seconds_total",
                    &[("cpu", &id), ("mode", mode)],
                    round3(*v),
                    None,
                );
            }
        }
        self.render_disk(&mut out);
        self.render_filesystem(&mut out);
        family(
            &mut out,
            "node_hwmon_chip_names",
            "gauge",
            "Annotation metric for human-readable chip names",
        );
        render_sample(
            &mut out,
            "node_hwmon_chip_names",
            &[("chip", "platform_coretemp_0"), ("chip_name", "coretemp")],
            1.0,
            None,
        );
        let temps = [
            ("node_hwmon_temp_celsius", round1(self.temp_c)),
            ("node_hwmon_temp_crit_celsius", 100.0),
            ("node_hwmon_temp_max_celsius", 84.0),
        ];
        for (name, v) in temps {
            family(
                &mut out,
                name,
                "gauge",
                "Hardware monitor for temperature (input)",
            );
            render_sample(
                &mut out,
                name,
                &[("chip", "platform_coretemp_0"), ("sensor", "temp1")],
                v,
                None,
            );
        }
        for (name, v) in [
            ("node_load1", self.load1),
            ("node_load15", self.load15),
            ("node_load5", self.load5),
        ] {
            family(&mut out, name, "gauge", &format!("{}m load average.", &name[9..]));
            render_sample(&mut out, name, &[], round2(v), None);
        }
        let avail = self.mem_available.round();
        let free = (avail * 0.35).round();
        let meminfo = [
            ("Active_anon", mem - avail - mem * 0.1),
            ("Buffers", mem * 0.02),
            ("Cached", (avail - free).max(0.0)),
            ("MemAvailable", avail),
            ("MemFree", free),
            ("MemTotal", mem),
            ("SwapFree", 0.0),
            ("SwapTotal", 0.0),
        ];
        for (field, v) in meminfo {
            let name = format!("node_memory_{field}_bytes");
            family(
                &mut out,
                &name,
                "gauge",
                &format!("Memory information field {field}_bytes."),
            );
            render_sample(&mut out, &name, &[], v.max(0.0).round(), None);
        }
        self.render_network(&mut out);
        let psi = [
            (
                "node_pressure_cpu_waiting_seconds_total",
                "Total time in seconds that processes have waited for CPU time",
                self.psi_cpu_waiting,
            ),
            (
                "node_pressure_io_stalled_seconds_total",
                "Total time in seconds no process could make progress due to IO congestion",
                self.psi_io_stalled,
            ),
            (
                "node_pressure_io_waiting_seconds_total",
                "Total time in seconds that processes have waited due to IO congestion",
                self.psi_io_waiting,
            ),
            (
                "node_pressure_memory_stalled_seconds_total",
                "Total time in seconds no process could make progress due to memory congestion",
                self.psi_mem_stalled,
            ),
            (
                "node_pressure_memory_waiting_seconds_total",
                "Total time in seconds that processes have waited for memory",
                self.psi_mem_waiting,
            ),
        ];
        for (name, help, v) in psi {
            family(&mut out, name, "counter", help);
            render_sample(&mut out, name, &[], round6(v), None);
        }
        family(
            &mut out,
            "node_thermal_zone_temp",
            "gauge",
            "Zone temperature in Celsius",
        );
        let zone = round1(self.temp_c - 2.0);
        render_sample(
            &mut out,
            "node_thermal_zone_temp",
            &[("type", "x86_pkg_temp"), ("zone", "0")],
            zone,
            None,
        );
        family(
            &mut out,
            "node_time_seconds",
            "gauge",
            "System time in seconds since epoch (1970).",
        );
        render_sample(&mut out, "node_time_seconds", &[], now_s, None);
        family(
            &mut out,
            "node_uname_info",
            "gauge",
            "Labeled system information as provided by the uname system call.",
        );
        render_sample(
            &mut out,
            "node_uname_info",
            &[
                ("domainname", "(none)"),
                ("machine", "x86_64"),
                ("nodename", node),
                ("release", "6.8.0-51-generic"),
                ("sysname", "Linux"),
                (
                    "version",
                    "#52-Ubuntu SMP PREEMPT_DYNAMIC Thu Dec  5 13:09:44 UTC 2024",
                ),
            ],
            1.0,
            None,
        );
        out
    }

    fn render_disk(&self, out: &mut String) {
        let disk = [
            (
                "node_disk_io_time_seconds_total",
                "Total seconds spent doing I/Os.",
                self.disk_io_s,
            ),
            (
                "node_disk_read_bytes_total",
                "The total number of bytes read successfully.",
                self.disk_read_bytes,
            ),
            (
                "node_disk_reads_completed_total",
                "The total number of reads completed successfully.",
                self.disk_reads,
            ),
            (
                "node_disk_writes_completed_total",
                "The total number of writes completed successfully.",
                self.disk_writes,
            ),
            (
                "node_disk_written_bytes_total",
                "The total number of bytes written successfully.",
                self.disk_written_bytes,
            ),
        ];
        for (name, help, v) in disk {
            family(out, name, "counter", help);
            render_sample(out, name, &[("device", "sda")], v.round(), None);
        }
    }

    fn render_filesystem(&self, out: &mut String) {
        let size = 100.0e9_f64;
        let labels = [
            ("device", "/dev/sda1"),
            ("device_error", ""),
            ("fstype", "ext4"),
            ("mountpoint", "/"),
        ];
        let fs = [
            (
                "node_filesystem_avail_bytes",
                "Filesystem space available to non-root users in bytes.",
                self.fs_avail.round(),
            ),
            (
                "node_filesystem_device_error",
                "Whether an error occurred while getting statistics for the given device.",
                0.0,
            ),
            (
                "node_filesystem_files",
                "Filesystem total file nodes.",
                6_553_600.0,
            ),
            (
                "node_filesystem_files_free",
                "Filesystem total free file nodes.",
                6_100_000.0,
            ),
            (
                "node_filesystem_free_bytes",
                "Filesystem free space in bytes.",
                (self.fs_avail + 5.0e9).round(),
            ),
            ("node_filesystem_readonly", "Filesystem read-only status.", 0.0),
            ("node_filesystem_size_bytes", "Filesystem size in bytes.", size),
        ];
        // A tmpfs beside the root filesystem, as every node has (dashboards filter it out).
        let run = [
            ("device", "tmpfs"),
            ("device_error", ""),
            ("fstype", "tmpfs"),
            ("mountpoint", "/run"),
        ];
        let run_size = 1_638_400_000.0;
        for (name, help, v) in fs {
            family(out, name, "gauge", help);
            render_sample(out, name, &labels, v, None);
            let tmpfs = match name {
                "node_filesystem_size_bytes" => run_size,
                "node_filesystem_avail_bytes" | "node_filesystem_free_bytes" => run_size - 3_276_800.0,
                _ => v,
            };
            render_sample(out, name, &run, tmpfs, None);
        }
    }

    fn render_network(&self, out: &mut String) {
        family(
            out,
            "node_network_info",
            "gauge",
            "Non-numeric data of <iface>, value is always 1.",
        );
        render_sample(
            out,
            "node_network_info",
            &[
                ("address", "52:54:00:12:34:56"),
                ("adminstate", "up"),
                ("broadcast", "ff:ff:ff:ff:ff:ff"),
                ("device", "eth0"),
                ("duplex", "full"),
                ("ifalias", ""),
                ("operstate", "up"),
            ],
            1.0,
            None,
        );
        let net = [
            (
                "node_network_receive_bytes_total",
                "Network device statistic receive_bytes.",
                self.net_rx_bytes,
            ),
            (
                "node_network_receive_drop_total",
                "Network device statistic receive_drop.",
                0.0,
            ),
            (
                "node_network_receive_errs_total",
                "Network device statistic receive_errs.",
                0.0,
            ),
            (
                "node_network_receive_packets_total",
                "Network device statistic receive_packets.",
                self.net_rx_packets,
            ),
            (
                "node_network_transmit_bytes_total",
                "Network device statistic transmit_bytes.",
                self.net_tx_bytes,
            ),
            (
                "node_network_transmit_drop_total",
                "Network device statistic transmit_drop.",
                0.0,
            ),
            (
                "node_network_transmit_errs_total",
                "Network device statistic transmit_errs.",
                0.0,
            ),
            (
                "node_network_transmit_packets_total",
                "Network device statistic transmit_packets.",
                self.net_tx_packets,
            ),
        ];
        for (name, help, v) in net {
            family(out, name, "counter", help);
            render_sample(out, name, &[("device", "eth0")], v.round(), None);
            // Loopback carries the kubelet's probes: a small share of eth0's traffic.
            render_sample(out, name, &[("device", "lo")], (v * 0.02).round(), None);
        }
        family(
            out,
            "node_network_up",
            "gauge",
            "Value is 1 if operstate is 'up', 0 otherwise.",
        );
        render_sample(out, "node_network_up", &[("device", "eth0")], 1.0, None);
        // node_exporter reports lo's operstate "unknown", hence 0.
        render_sample(out, "node_network_up", &[("device", "lo")], 0.0, None);
    }
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn round1(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}
fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}
fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}
fn round6(v: f64) -> f64 {
    (v * 1e6).round() / 1e6
}
