//! The skiff scheduler: kube-scheduler's framework rebuilt as an API client. Pods with
//! `spec.schedulerName` = the configured name and no node are taken from a priority queue,
//! filtered and scored by the plugins of [`registry::default_framework`] against an
//! incrementally maintained [`node_info::Snapshot`], and bound through `pods/binding`; pods
//! that fit nowhere get `PodScheduled=False` and a `FailedScheduling` event, and may preempt
//! lower-priority pods.

#![warn(missing_docs)]

pub mod framework;
pub mod node_info;
pub mod plugins;
pub mod queue;
pub mod registry;
pub mod resources;
mod runtime;
pub mod schedule_one;
mod scheduler;
#[cfg(test)]
mod testing;

pub use runtime::Framework;
pub use scheduler::{run, run_with};

/// The scheduler's configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The `spec.schedulerName` this scheduler serves (`default-scheduler`).
    pub scheduler_name: String,
    /// The simulation clock (back-off and flush durations are simulated time).
    pub clock: api::clock::Clock,
    /// Seed for tie-breaks among equally scored nodes and preemption's search offset.
    pub seed: u64,
    /// `percentageOfNodesToScore`; `None` is upstream's adaptive default.
    pub percentage_of_nodes_to_score: Option<u32>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            scheduler_name: "default-scheduler".into(),
            clock: api::clock::Clock::REAL_TIME,
            seed: 0,
            percentage_of_nodes_to_score: None,
        }
    }
}

/// What stopped the scheduler.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A watch of a resource the scheduler needs ended for good.
    #[error("watching {resource} ended")]
    WatchEnded {
        /// The resource, e.g. `pods`.
        resource: &'static str,
    },
}
