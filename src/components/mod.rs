//! Components: the state machines and pure policies of the modelled system
//! (traffic sources, service-time samplers, balancers, nodes). They take the
//! current time and their random stream as arguments and return outcomes;
//! they never touch the engine. The `sim` layer turns outcomes into events.

pub mod arrivals;
pub mod autoscaler;
pub mod balancer;
pub mod breaker;
pub mod class_rates;
pub mod distribution;
pub mod health;
pub mod node;
pub mod outlier;
pub mod rate_limit;
pub mod restart;
pub mod retry;
pub mod throttle;
pub mod window;
