//! Recovery measured against the SLO: the run's breach episodes (each with
//! its start, its restoration or its censoring), the run's RTO and its
//! outcome (not disrupted, recovered, locked in, or the SLO never met).
//!
//! Definitions (after the AWS Well-Architected reliability pillar, where the
//! RTO is "the maximum acceptable delay between the interruption of service
//! and restoration of service", and Google's "Incident Metrics in SRE"
//! (Davidovič, 2021), which measures an incident from the start of user
//! impact to the moment the impact ended, not to when a dashboard caught
//! up):
//!
//! - The SLI is judged per bin: a bin meets the SLO when at least `goodput`
//!   of the requests that *arrived* in it succeeded, whenever they were
//!   answered (and its p99 is within the latency objective, if one is set).
//!   Counting a request against its arrival keeps the numerator and the
//!   denominator the same requests: a stable queue whose answers lag their
//!   arrivals by a second is not failing, and an outage starts when the
//!   first request it loses arrives, not a timeout later. A request still
//!   unanswered at the end of the run counts as failed once it has waited a
//!   whole SLI window, and is left out before that. The SLO's `window` smooths the
//!   *detection* of a breach: a breach is declared when the trailing window
//!   fails, which a single noisy bin of a small window cannot trigger.
//! - A breach episode starts at the first bin of the run of bins that fail
//!   on their own and lead up to the detected breach; so a sharp outage
//!   starts at its first bad bin whatever the window.
//! - An episode ends at restoration: the start of the first bin from which
//!   the SLO holds for `hold`, judged on windows that reach back no further
//!   than that bin (the outage must not keep a trailing window failing after
//!   service is back: restoration does not depend on the window).
//! - A later breach is a new episode (a relapse). A run is recovered only
//!   when its last episode ended, that is when the SLO holds from the last
//!   restoration to the end of the run; a run that ends in breach is
//!   censored, never counted as recovered.
//! - The disruption instant is the first injected fault or crash, else the
//!   start of the first episode. RTO = last restoration − disruption.
//! - A run with no injected trigger whose first episode starts where the
//!   measurement starts and never ends did not lose its SLO: it never met
//!   it (a stable but lossy system, say), which is not a metastable failure.

use serde::{Deserialize, Serialize};

use super::{BinRow, LoggedEvent};
use crate::model::Slo;
use crate::time::SimTime;

/// How a run ended, judged against the SLO.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecoveryStatus {
    /// No injected fault and no breach of the SLO.
    #[default]
    Undisrupted,
    /// Disrupted, and the SLO holds from the last restoration to the end.
    Recovered,
    /// Disrupted, and the run ends in breach.
    LockedIn,
    /// No trigger, and the SLO was not met from the start to the end.
    NeverMet,
}

impl RecoveryStatus {
    /// Whether the SLO was lost and there was something to recover from (a
    /// run that never met the SLO had not).
    pub fn disrupted(self) -> bool {
        matches!(self, RecoveryStatus::Recovered | RecoveryStatus::LockedIn)
    }

    pub fn name(self) -> &'static str {
        match self {
            RecoveryStatus::Undisrupted => "undisrupted",
            RecoveryStatus::Recovered => "recovered",
            RecoveryStatus::LockedIn => "locked_in",
            RecoveryStatus::NeverMet => "never_met",
        }
    }
}

/// One stretch of the run in breach of the SLO.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BreachEpisode {
    pub start_s: f64,
    /// Restoration; `null` when the run ends in this episode (censored).
    pub end_s: Option<f64>,
    /// `end_s − start_s`; `null` when censored.
    pub rto_s: Option<f64>,
}

/// The run's recovery, as defined in the module documentation. A run that
/// ends before restoration is censored: its RTO is `null`, never zero and
/// never the horizon.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RecoverySummary {
    pub status: RecoveryStatus,
    pub disrupted_at_s: Option<f64>,
    /// The last restoration (the SLO holds from it to the end of the run).
    pub recovered_at_s: Option<f64>,
    pub rto_s: Option<f64>,
    pub censored: bool,
    /// Every breach episode, in time order.
    pub episodes: Vec<BreachEpisode>,
    /// The scenario's RTO objective, and whether this run met it (`null`
    /// without an objective or a disruption; false when censored).
    pub rto_objective_s: Option<f64>,
    pub rto_met: Option<bool>,
    /// Where the parts are known (the disruption is a database primary
    /// failure): time to detect it, to fail over, and to catch up after.
    pub rto_breakdown: Option<RtoBreakdown>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RtoBreakdown {
    pub detection_s: f64,
    pub failover_s: f64,
    /// From the promotion until the SLO held again (queues draining, retries).
    pub catch_up_s: f64,
}

/// The SLO judged over any span of bins in O(1), from prefix sums.
struct SloJudge<'a> {
    slo: &'a Slo,
    window_bins: usize,
    /// Prefix sums: requests judged (by arrival bin), those that succeeded,
    /// bins whose p99 breaks the objective.
    judged: Vec<u64>,
    good: Vec<u64>,
    slow: Vec<u64>,
}

impl<'a> SloJudge<'a> {
    fn new(bins: &[BinRow], slo: &'a Slo) -> Self {
        let bin_ns = bins.first().map_or(1, |b| (b.end.0 - b.start.0).max(1));
        let running = |f: &dyn Fn(&BinRow) -> u64| {
            let mut sums = Vec::with_capacity(bins.len() + 1);
            let mut sum = 0;
            sums.push(0);
            for b in bins {
                sum += f(b);
                sums.push(sum);
            }
            sums
        };
        let limit = slo.latency_p99;
        // Requests that arrived a whole window before the end have had the
        // time to settle: all of them are judged, the unanswered as failed.
        let end = bins.last().map_or(SimTime::ZERO, |b| b.end);
        let settled_by = SimTime(end.0.saturating_sub(slo.window.0));
        SloJudge {
            slo,
            window_bins: slo.window.0.div_ceil(bin_ns).max(1) as usize,
            judged: running(&|b| if b.end <= settled_by { b.offered } else { b.arrived_ok + b.arrived_failed }),
            good: running(&|b| b.arrived_ok),
            slow: running(&|b| limit.is_some_and(|l| b.latency_p99.is_some_and(|p| p > l)) as u64),
        }
    }

    /// Whether bins `from..=to` together meet the SLO.
    fn span_meets(&self, from: usize, to: usize) -> bool {
        let judged = self.judged[to + 1] - self.judged[from];
        let good = self.good[to + 1] - self.good[from];
        let goodput_ok = judged == 0 || good as f64 >= self.slo.goodput * judged as f64;
        goodput_ok && self.slow[to + 1] == self.slow[from]
    }

    /// Whether the SLI window ending with bin `at` meets the SLO, the window
    /// reaching back no further than bin `floor`.
    fn window_meets(&self, floor: usize, at: usize) -> bool {
        self.span_meets(floor.max((at + 1).saturating_sub(self.window_bins)), at)
    }
}

/// The breach episodes of a run, as bin indices: (first bad bin, the bin
/// restoration starts at, if any).
fn episodes(judge: &SloJudge, bins: usize, first_judged: usize, hold_bins: usize) -> Vec<(usize, Option<usize>)> {
    let mut out = Vec::new();
    // Windows reach back no further than the last restoration.
    let mut floor = 0;
    let mut at = first_judged;
    while at < bins {
        if judge.window_meets(floor, at) {
            at += 1;
            continue;
        }
        // The failing window holds a bin failing on its own (a sum of
        // passing bins passes); the episode starts with the run of such
        // bins leading up to it.
        let lowest = floor.max(first_judged);
        let mut start = (lowest..=at).rev().find(|&i| !judge.span_meets(i, i)).unwrap_or(at);
        while start > lowest && !judge.span_meets(start - 1, start - 1) {
            start -= 1;
        }
        let restored = (start + 1..bins)
            .take_while(|&r| r + hold_bins <= bins)
            .find(|&r| (r..r + hold_bins).all(|i| judge.window_meets(r, i)));
        out.push((start, restored));
        match restored {
            Some(r) => {
                floor = r;
                at = r + hold_bins;
            }
            None => break,
        }
    }
    out
}

pub(super) fn recovery_summary(
    first_disruption: Option<SimTime>,
    bins: &[BinRow],
    warmup_end: SimTime,
    slo: &Slo,
) -> RecoverySummary {
    let judge = SloJudge::new(bins, slo);
    let bin_ns = bins.first().map_or(1, |b| (b.end.0 - b.start.0).max(1));
    let hold_bins = slo.hold.0.div_ceil(bin_ns).max(1) as usize;
    // Judging starts once a whole SLI window has elapsed (the first bins of
    // a run hold requests still in flight) and after the warm-up.
    let first_judged = (judge.window_bins - 1..bins.len()).find(|&i| bins[i].start >= warmup_end).unwrap_or(bins.len());
    let found = episodes(&judge, bins.len(), first_judged, hold_bins);
    let episodes: Vec<BreachEpisode> = found
        .iter()
        .map(|&(start, end)| {
            let (start_s, end_s) = (bins[start].start.as_secs_f64(), end.map(|e| bins[e].start.as_secs_f64()));
            BreachEpisode { start_s, end_s, rto_s: end_s.map(|e| e - start_s) }
        })
        .collect();
    let objective = slo.rto_objective.map(|d| d.as_secs_f64());
    let injected = first_disruption.map(|t| t.as_secs_f64());
    let ends_in_breach = found.last().is_some_and(|e| e.1.is_none());
    if injected.is_none() && found.len() == 1 && ends_in_breach && found[0].0 <= first_judged {
        return RecoverySummary {
            status: RecoveryStatus::NeverMet,
            disrupted_at_s: Some(episodes[0].start_s),
            censored: true,
            episodes,
            rto_objective_s: objective,
            ..RecoverySummary::default()
        };
    }
    let Some(t_d) = injected.or(episodes.first().map(|e| e.start_s)) else {
        return RecoverySummary { rto_objective_s: objective, ..RecoverySummary::default() };
    };
    // Restored at the last restoration, or at once when no breach reaches
    // past the disruption (a fault that never breaks the SLO costs nothing).
    let restored = match episodes.last() {
        _ if ends_in_breach => None,
        Some(last) => Some(last.end_s.unwrap_or(t_d).max(t_d)),
        None => Some(t_d),
    };
    let rto = restored.map(|t| t - t_d);
    RecoverySummary {
        status: if ends_in_breach { RecoveryStatus::LockedIn } else { RecoveryStatus::Recovered },
        disrupted_at_s: Some(t_d),
        recovered_at_s: restored,
        rto_s: rto,
        censored: restored.is_none(),
        episodes,
        rto_objective_s: objective,
        rto_met: objective.map(|o| rto.is_some_and(|r| r <= o)),
        rto_breakdown: None,
    }
}

/// events.csv rows for the breach episodes: `slo-breach` at each start,
/// `slo-restored` at each end.
pub(super) fn episode_events(recovery: &RecoverySummary) -> Vec<LoggedEvent> {
    let at = |s: f64| SimTime((s * 1e9).round() as u64);
    let mut out = Vec::new();
    for (k, e) in recovery.episodes.iter().enumerate() {
        let n = k + 1;
        out.push(LoggedEvent {
            t: at(e.start_s),
            service: String::new(),
            node: None,
            event: "slo-breach",
            detail: match e.end_s {
                Some(_) => format!("episode {n}"),
                None => format!("episode {n}, not restored by the end of the run"),
            },
        });
        if let (Some(end), Some(rto)) = (e.end_s, e.rto_s) {
            out.push(LoggedEvent {
                t: at(end),
                service: String::new(),
                node: None,
                event: "slo-restored",
                detail: format!(
                    "episode {n}, {} after its start",
                    crate::time::SimDuration((rto * 1e9).round() as u64)
                ),
            });
        }
    }
    out
}
