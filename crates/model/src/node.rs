//! Node metrics from node_exporter: the latest figures per node, and the agent's one-hour
//! history of them (the concentrator ring of seed 001, 60 one-minute points).
//!
//! Rates and percentages are over the interval between the agent's last two scrapes of the
//! node. A figure the node does not expose (no hwmon sensors, no PSI on old kernels) is `None`,
//! never zero.

use serde::{Deserialize, Serialize};

use crate::Timestamp;

/// One node's figures at one scrape.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NodeMetrics {
    /// The Kubernetes node name.
    pub node: String,
    pub timestamp: Timestamp,
    pub cpu: CpuMetrics,
    pub memory: MemoryMetrics,
    #[serde(default)]
    pub disks: Vec<DiskMetrics>,
    #[serde(default)]
    pub filesystems: Vec<FilesystemMetrics>,
    #[serde(default)]
    pub networks: Vec<NetworkMetrics>,
    pub psi: PsiMetrics,
    pub temperature: TemperatureMetrics,
    /// Seconds since boot.
    pub uptime_seconds: Option<f64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CpuMetrics {
    /// Busy share of all cores (1 − idle), 0–100.
    pub usage_pct: Option<f64>,
    pub user_pct: Option<f64>,
    pub system_pct: Option<f64>,
    pub iowait_pct: Option<f64>,
    pub cores: Option<u32>,
    pub load1: Option<f64>,
    pub load5: Option<f64>,
    pub load15: Option<f64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MemoryMetrics {
    pub total_bytes: Option<f64>,
    pub available_bytes: Option<f64>,
    pub free_bytes: Option<f64>,
    pub cached_bytes: Option<f64>,
    pub buffers_bytes: Option<f64>,
    /// 1 − available / total, 0–100.
    pub usage_pct: Option<f64>,
    pub swap_total_bytes: Option<f64>,
    pub swap_free_bytes: Option<f64>,
    pub swap_usage_pct: Option<f64>,
}

/// A block device's I/O rates.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DiskMetrics {
    pub device: String,
    pub read_bytes_per_sec: Option<f64>,
    pub written_bytes_per_sec: Option<f64>,
    pub reads_per_sec: Option<f64>,
    pub writes_per_sec: Option<f64>,
    /// Share of time the device was busy, 0–100.
    pub io_util_pct: Option<f64>,
}

/// A mounted filesystem's space (pseudo filesystems such as tmpfs and overlay left out).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FilesystemMetrics {
    pub mountpoint: String,
    pub device: String,
    pub fstype: String,
    pub size_bytes: f64,
    pub avail_bytes: f64,
    /// 1 − avail / size, 0–100.
    pub usage_pct: Option<f64>,
}

/// A network interface's rates (loopback left out).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NetworkMetrics {
    pub device: String,
    pub up: Option<bool>,
    pub receive_bytes_per_sec: Option<f64>,
    pub transmit_bytes_per_sec: Option<f64>,
    pub receive_packets_per_sec: Option<f64>,
    pub transmit_packets_per_sec: Option<f64>,
    pub receive_errors_per_sec: Option<f64>,
    pub transmit_errors_per_sec: Option<f64>,
    pub receive_drops_per_sec: Option<f64>,
    pub transmit_drops_per_sec: Option<f64>,
}

/// Pressure stall information: share of wall time some (or all, "full") tasks were stalled,
/// 0–100. CPU has no "full".
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PsiMetrics {
    pub cpu_some_pct: Option<f64>,
    pub memory_some_pct: Option<f64>,
    pub memory_full_pct: Option<f64>,
    pub io_some_pct: Option<f64>,
    pub io_full_pct: Option<f64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TemperatureMetrics {
    /// The hottest CPU-like sensor (coretemp, k10temp, cpu thermal zone), °C.
    pub cpu_celsius: Option<f64>,
    #[serde(default)]
    pub sensors: Vec<TemperatureSensor>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TemperatureSensor {
    pub chip: String,
    pub sensor: String,
    pub celsius: f64,
    pub max_celsius: Option<f64>,
    pub crit_celsius: Option<f64>,
}

/// One minute of a node's history: the last figures of that minute.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NodePoint {
    /// Start of the minute.
    pub minute: Timestamp,
    pub cpu_pct: Option<f64>,
    pub memory_pct: Option<f64>,
    pub load1: Option<f64>,
    /// Usage of the fullest filesystem.
    pub disk_pct: Option<f64>,
    pub network_receive_bytes_per_sec: Option<f64>,
    pub network_transmit_bytes_per_sec: Option<f64>,
    pub psi_cpu_some_pct: Option<f64>,
    pub psi_memory_some_pct: Option<f64>,
    pub psi_io_some_pct: Option<f64>,
    pub cpu_celsius: Option<f64>,
}

/// A node's last hour, oldest first, at most 60 points (minutes without a scrape are absent).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NodeSeries {
    pub node: String,
    pub points: Vec<NodePoint>,
}
