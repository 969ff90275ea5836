//! faultline: a discrete-event simulator of cascading server failures.
//!
//! Data flow of one run:
//!
//! ```text
//! scenario.toml --model--> Scenario --sim::run--> RunRecord --report--> CSV / JSON
//!                             |                     ^
//!                             v                     |
//!                   components (nodes, balancers,   metrics::Recorder
//!                   arrivals, service times)        (bins, histograms)
//!                             \--- engine (clock + event queue) ---/
//! ```
//!
//! Modules, leaves first: [`time`] and [`rng`] <- [`engine`] <- [`model`] <-
//! [`components`] <- [`metrics`] <- [`sim`] <- [`analysis`], [`report`].
//! The CLI lives in the binary only, so the library never links clap.

pub mod analysis;
pub mod components;
pub mod engine;
pub mod metrics;
pub mod model;
pub mod monte_carlo;
pub mod plan;
pub mod plot;
pub mod report;
pub mod ring;
pub mod rng;
pub mod sha256;
pub mod sim;
pub mod stats;
pub mod sweep;
pub mod time;

pub use metrics::RunRecord;
pub use model::{Scenario, ScenarioError};
pub use sim::{SimError, run};
