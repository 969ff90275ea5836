//! Disaster recovery between regions: when the primary balancer's region
//! goes down, the outage is detected, the standby region is made ready
//! according to the strategy (already serving, scaled up, provisioned, or
//! restored from backup then provisioned), and clients follow the DNS change
//! one TTL after the detection. RPO is the age of the newest data the
//! standby holds at the disaster: 0 with synchronous replication, the
//! replication lag with asynchronous, the time since the last backup.

use rand::RngExt;

use super::{Event, World};
use crate::components::distribution::DurationSampler;
use crate::metrics::DrSummary;
use crate::model::{DrSpec, DrStrategy};
use crate::rng::SimRng;
use crate::time::{SimDuration, SimTime};

pub(super) struct DrState {
    pub(super) spec: DrSpec,
    /// Backups are taken at phase + k · interval.
    backup_phase: SimDuration,
    pub(super) summary: Option<DrSummary>,
}

impl DrState {
    pub(super) fn new(spec: &DrSpec, rng: &mut SimRng) -> Self {
        let phase = SimDuration((rng.random::<f64>() * spec.backup_interval.0 as f64) as u64);
        DrState { spec: spec.clone(), backup_phase: phase, summary: None }
    }

    /// Nodes of the standby service running before any disaster.
    pub(super) fn standby_running(spec: &DrSpec, nodes: u32) -> u32 {
        match spec.strategy {
            DrStrategy::ActiveActive => nodes,
            DrStrategy::WarmStandby => spec.standby_nodes,
            DrStrategy::PilotLight | DrStrategy::BackupRestore => 0,
        }
    }
}

impl World<'_> {
    /// Every node of `region` went down: if it hosts the primary, start
    /// the disaster-recovery clock.
    pub(super) fn region_lost(&mut self, now: SimTime, region: &str) {
        let Some(dr) = self.dr.as_mut() else { return };
        if dr.summary.is_some() {
            return; // one disaster per run
        }
        let primary_service = self.scenario.balancers[dr.spec.primary].service;
        if self.scenario.services[primary_service].region != region {
            return;
        }
        let spec = dr.spec.clone();
        let rpo = match spec.strategy {
            DrStrategy::BackupRestore => {
                // Backups have run every interval since long before the
                // run, at a random phase: the last one is this old.
                let interval = spec.backup_interval.0 as i128;
                let age = (now.0 as i128 - dr.backup_phase.0 as i128).rem_euclid(interval);
                age as f64 / 1e9
            }
            _ if spec.synchronous => 0.0,
            _ => DurationSampler::new(&spec.lag).sample(&mut self.dr_rng).as_secs_f64(),
        };
        dr.summary = Some(DrSummary {
            strategy: spec.strategy.name().to_string(),
            disaster_at_s: now.as_secs_f64(),
            detected_at_s: None,
            traffic_shifted_at_s: None,
            standby_ready_at_s: None,
            rpo_s: rpo,
        });
        self.engine.schedule_at(now + spec.detection, Event::DrDetected);
    }

    pub(super) fn on_dr_detected(&mut self, now: SimTime) {
        let Some(dr) = self.dr.as_mut() else { return };
        let spec = dr.spec.clone();
        if let Some(s) = dr.summary.as_mut() {
            s.detected_at_s = Some(now.as_secs_f64());
        }
        self.engine.schedule_at(now + spec.dns_ttl, Event::DrShift);
        let standby_service = self.scenario.balancers[spec.standby].service;
        let service = self.scenario.services[standby_service].name.clone();
        self.recorder.log(now, &service, None, "dr-detected", format!("{} failover starts", spec.strategy.name()));
        let ready = match spec.strategy {
            DrStrategy::ActiveActive => now,
            DrStrategy::WarmStandby => now + DurationSampler::new(&spec.scale_up).sample(&mut self.dr_rng),
            DrStrategy::PilotLight => now + DurationSampler::new(&spec.provisioning).sample(&mut self.dr_rng),
            DrStrategy::BackupRestore => {
                now + spec.restore + DurationSampler::new(&spec.provisioning).sample(&mut self.dr_rng)
            }
        };
        let first = self.services[standby_service].first_node;
        for node in first..first + self.services[standby_service].nodes {
            let x = &mut self.extra[node];
            if !x.present {
                x.present = true;
                x.provisioning = true;
                self.engine.schedule_at(ready, Event::Provisioned { node: node as u32 });
            }
        }
        if let Some(s) = self.dr.as_mut().and_then(|d| d.summary.as_mut()) {
            s.standby_ready_at_s = Some(ready.as_secs_f64());
        }
    }

    /// Clients follow the DNS change: traffic for the primary goes to the standby.
    pub(super) fn on_dr_shift(&mut self, now: SimTime) {
        let Some(dr) = self.dr.as_mut() else { return };
        let (primary, standby) = (dr.spec.primary, dr.spec.standby);
        if let Some(s) = dr.summary.as_mut() {
            s.traffic_shifted_at_s = Some(now.as_secs_f64());
        }
        for source in &mut self.sources {
            if source.balancer == primary {
                source.balancer = standby;
                source.split = None;
            }
        }
        let service = self.scenario.services[self.scenario.balancers[standby].service].name.clone();
        self.recorder.log(now, &service, None, "dr-shift", "traffic follows DNS to the standby region".to_string());
    }
}
