//! A run's event log: where its rows go (kept, streamed to a writer as they
//! happen, or dropped) and what the summary needs from them, gathered as
//! they are logged so that no kind of run has to hold every row. A batch
//! never writes its runs' events, and a single run's events.csv streams to
//! disk: random crashes on 2,000 nodes for ten minutes log 18 million rows,
//! which held in memory took 3.8 GB.

use super::{CascadeSummary, LoggedEvent, NodeDeath, NodeLabel};
use crate::time::SimTime;

/// Where a run's event rows go.
pub enum EventLog {
    /// Kept in memory and returned in the run's record (library users, tests).
    Keep,
    /// Only what the summary needs is kept: a batch's runs.
    Discard,
    /// Handed to the writer one by one, in time order, as they happen: a
    /// single run's events.csv. The record then holds only the rows added
    /// when the run ends (breach episodes), for the writer to merge in.
    Stream(Box<dyn FnMut(&LoggedEvent) + Send>),
}

/// What the summary reads from the events, updated row by row.
#[derive(Default)]
pub(super) struct EventDigest {
    /// Rows logged, whatever became of them.
    pub logged: u64,
    /// The first crash or injected fault: when the run was disrupted.
    pub first_disruption: Option<SimTime>,
    pub node_deaths: Vec<NodeDeath>,
    /// Per service: nodes down now, and when (at which row) each count of
    /// nodes down was first reached, for the cascade judged at the end
    /// (when the service's node count is known).
    down: Vec<ServiceDown>,
}

struct ServiceDown {
    service: String,
    now: u32,
    /// `first_reached[k - 1]`: (time, row) at which k nodes were first down.
    first_reached: Vec<(SimTime, u64)>,
}

impl EventDigest {
    pub fn add(&mut self, e: &LoggedEvent) {
        let row = self.logged;
        self.logged += 1;
        if self.first_disruption.is_none()
            && (e.event == "crash" || e.event == "fault-start" || e.event == "partition-start")
        {
            self.first_disruption = Some(e.t);
        }
        if e.event == "crash" {
            self.node_deaths.push(NodeDeath {
                t_s: e.t.as_secs_f64(),
                service: e.service.clone(),
                node: e.node.unwrap_or(0),
                cause: e.detail.clone(),
            });
        }
        let change = match e.event {
            "crash" | "stopped" => 1,
            "up" => -1,
            _ => return,
        };
        let at = match self.down.iter().position(|d| d.service == e.service) {
            Some(at) => at,
            None => {
                self.down.push(ServiceDown { service: e.service.clone(), now: 0, first_reached: Vec::new() });
                self.down.len() - 1
            }
        };
        let d = &mut self.down[at];
        if change > 0 {
            d.now += 1;
            if d.first_reached.len() < d.now as usize {
                d.first_reached.push((e.t, row));
            }
        } else {
            d.now = d.now.saturating_sub(1);
        }
    }

    /// The cascade: the first row at which more than half of some service's
    /// nodes were down, and the most nodes of one service down at once.
    pub fn cascade(&self, nodes: &[NodeLabel]) -> CascadeSummary {
        let mut out = CascadeSummary::default();
        let mut first: Option<(SimTime, u64, &str)> = None;
        for d in &self.down {
            let total = nodes.iter().filter(|n| n.service == d.service).count();
            if total == 0 {
                continue; // not a service's nodes (a region, say)
            }
            out.max_nodes_down = out.max_nodes_down.max(d.first_reached.len() as u32);
            // Fewest nodes down that is more than half.
            let more_than_half = total / 2 + 1;
            if let Some(&(t, row)) = d.first_reached.get(more_than_half - 1)
                && first.is_none_or(|(_, r, _)| row < r)
            {
                first = Some((t, row, &d.service));
            }
        }
        if let Some((t, _, service)) = first {
            out.happened = true;
            out.at_s = Some(t.as_secs_f64());
            out.service = Some(service.to_string());
        }
        out
    }
}
